package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
)

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
// older than a day (PlanPrune says which, and why each stays or goes),
// newest first, so that an interrupted prune never leaves a differential
// backup whose parent it removed. It returns what it removed (with DryRun,
// what it would remove).
func (s *Store) Prune(ctx context.Context, keep Keep, opts PruneOptions) ([]Backup, error) {
	plan, err := s.PlanPrune(ctx, keep, opts)
	if err != nil {
		return nil, err
	}
	var doomed []Backup
	for _, d := range plan {
		if d.Remove {
			doomed = append(doomed, d.Backup)
		}
	}
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
	_, _ = s.abortLeftovers(ctx, "", nil, opts.now())
	return doomed, nil
}

// PlanPrune is what Prune would do with every backup under the location,
// newest first: remove it or keep it, and why. It reads every complete
// backup's manifest, for the chains.
func (s *Store) PlanPrune(ctx context.Context, keep Keep, opts PruneOptions) ([]PruneDecision, error) {
	backups, err := s.list(ctx, true)
	if err != nil {
		return nil, err
	}
	return planPrune(backups, keep, opts.InUse, opts.now()), nil
}

func (o PruneOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
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
