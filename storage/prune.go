package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Keep is a retention policy: keep the newest Count backups, or those
// younger than Age. Exactly one is set.
type Keep struct {
	Count int
	Age   time.Duration
}

// staleAfter is how old an incomplete backup gets before prune removes it:
// older than any upload that is still running.
const staleAfter = 24 * time.Hour

// ParseKeep reads a retention policy: a count ("24") or an age ("7d", "36h",
// "90m", "1d12h").
func ParseKeep(s string) (Keep, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return Keep{}, fmt.Errorf("keep %q would remove every backup; keep at least 1", s)
		}
		return Keep{Count: n}, nil
	}
	age, err := parseAge(s)
	if err != nil || age <= 0 {
		return Keep{}, fmt.Errorf("keep %q is neither a count (24) nor an age (7d, 36h)", s)
	}
	return Keep{Age: age}, nil
}

// parseAge is time.ParseDuration with days: "7d", "1d12h".
func parseAge(s string) (time.Duration, error) {
	var days time.Duration
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, errors.New("bad days")
		}
		days, s = time.Duration(n)*24*time.Hour, rest
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

func (k Keep) String() string {
	if k.Count > 0 {
		return strconv.Itoa(k.Count)
	}
	if k.Age%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", k.Age/(24*time.Hour))
	}
	return k.Age.String()
}

// PruneOptions are the choices of one prune.
type PruneOptions struct {
	// InUse names backups that must stay whatever their age, such as those a
	// restore annotation in the cluster names.
	InUse []string
	// DryRun only reports what would be removed.
	DryRun bool
	// Now is the time ages are measured from; zero: now.
	Now time.Time
}

// Prune removes the backups that keep does not keep, and incomplete backups
// older than a day. It never removes the newest complete backup nor one in
// use. It returns what it removed (with DryRun, what it would remove).
func (s *Store) Prune(ctx context.Context, keep Keep, opts PruneOptions) ([]Backup, error) {
	backups, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	doomed := selectForPrune(backups, keep, opts.InUse, now)
	if opts.DryRun {
		return doomed, nil
	}
	for i, b := range doomed {
		if err := s.remove(ctx, b); err != nil {
			return doomed[:i], fmt.Errorf("removing backup %s: %w", b.ID, err)
		}
	}
	// Multipart uploads an interrupted upload left open cost storage and
	// show nowhere else. Not reaching them fails nothing that was asked:
	// the next upload or prune tries again.
	_, _ = s.abortLeftovers(ctx, "", nil, now)
	return doomed, nil
}

// selectForPrune decides what goes, from backups sorted oldest first.
// Legacy backups count as restorable backups, like complete ones, so that
// they age out after a migration; folders that are neither are never touched.
func selectForPrune(backups []Backup, keep Keep, inUse []string, now time.Time) []Backup {
	used := make(map[string]bool, len(inUse))
	for _, id := range inUse {
		used[id] = true
	}
	var doomed []Backup
	rank, seenComplete := 0, false // rank: place among restorable backups, newest first
	for i := len(backups) - 1; i >= 0; i-- {
		b := backups[i]
		age := now.Sub(b.Time)
		if b.Status == Incomplete {
			if age > staleAfter && !used[b.ID] {
				doomed = append(doomed, b)
			}
			continue
		}
		expired := (keep.Count > 0 && rank >= keep.Count) || (keep.Age > 0 && age > keep.Age)
		rank++
		protected := used[b.ID] || (b.Status == Complete && !seenComplete)
		if b.Status == Complete {
			seenComplete = true
		}
		if expired && !protected {
			doomed = append(doomed, b)
		}
	}
	return doomed
}

// remove deletes a backup, manifest first: a backup interrupted half-way
// through removal is incomplete, never a complete one with files missing.
func (s *Store) remove(ctx context.Context, b Backup) error {
	if b.Status == Complete {
		if err := s.client.RemoveObject(ctx, s.loc.Bucket, s.loc.key(b.ID, ManifestName), minio.RemoveObjectOptions{}); err != nil {
			return s.explain(err)
		}
	}
	objects := make(chan minio.ObjectInfo)
	listErr := make(chan error, 1)
	go func() {
		defer close(objects)
		for obj := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: s.loc.backupFolder(b.ID), Recursive: true}) {
			if obj.Err != nil {
				listErr <- obj.Err
				return
			}
			select {
			case objects <- obj:
			case <-ctx.Done():
				return
			}
		}
	}()
	for r := range s.client.RemoveObjects(ctx, s.loc.Bucket, objects, minio.RemoveObjectsOptions{}) {
		if r.Err != nil {
			return fmt.Errorf("%s: %w", r.ObjectName, s.explain(r.Err))
		}
	}
	select {
	case err := <-listErr:
		return s.explain(err)
	default:
	}
	// Parts of uploads that died still cost storage; abort them.
	for u := range s.client.ListIncompleteUploads(ctx, s.loc.Bucket, s.loc.backupFolder(b.ID), true) {
		if u.Err != nil {
			break // not every store lists uploads; the objects are gone, which is what matters
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.loc.Bucket, u.Key); err != nil {
			return s.explain(err)
		}
	}
	return ctx.Err()
}
