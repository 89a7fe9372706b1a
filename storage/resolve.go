package storage

import (
	"context"
	"fmt"
	"time"
)

// Latest names the newest complete backup.
const Latest = "latest"

// Resolve finds the backup that at names: "latest", a backup ID, an RFC 3339
// time (the newest complete backup at or before it), or a legacy folder name
// (exactly). A complete backup comes with its manifest.
func (s *Store) Resolve(ctx context.Context, at string) (Backup, error) {
	backups, err := s.scan(ctx)
	if err != nil {
		return Backup{}, err
	}
	b, err := resolve(backups, at, s.loc)
	if err != nil || b.Status != Complete {
		return b, err
	}
	index := byID(backups)
	read := func(b Backup) (Backup, error) { // b with its manifest, read once
		if known := index[b.ID]; known.Manifest != nil {
			return known, nil
		}
		m, err := s.readManifest(ctx, b.ID)
		if err != nil {
			return Backup{}, err
		}
		b.Manifest, b.Size, b.Files, b.Databases = m, m.Size(), len(m.Files), m.Databases
		index[b.ID] = b
		return b, nil
	}
	// A differential backup restores with its whole chain; latest or a
	// time skips one whose chain is broken, as it skips incomplete ones.
	var links []Backup
	for tries := 0; ; tries++ {
		if b, err = read(b); err != nil {
			return Backup{}, err
		}
		if links, err = s.chainOf(b, read); err == nil {
			break
		}
		older, ok := olderComplete(backups, b)
		if b.ID == at || !ok || tries > len(backups) {
			return Backup{}, fmt.Errorf("backup %s cannot be restored: %w", b.ID, err)
		}
		b = older
	}
	// A time inside a chain restores exactly to it: the chain up to the
	// backup that holds the transactions of that time, stopped there.
	if t, err := time.Parse(time.RFC3339, at); err == nil && t.After(b.Time) {
		next, hasNext := newerComplete(backups, b)
		if hasNext && next.Time.After(t) {
			if n, err := read(next); err == nil && n.Manifest.differential() && n.Manifest.Parent == b.ID {
				links, b = append(links, n), n
				b.RestoreUntil = t.UTC()
			}
		}
		switch {
		case b.RestoreUntil.IsZero() && b.Manifest.differential() && t.Before(taken(b)):
			b.RestoreUntil = t.UTC() // while a differential backup was taken: in it
		case b.RestoreUntil.IsZero() && b.Manifest.differential() && hasNext:
			// After a chain's last backup and before the next one (a new
			// full backup, or differential ones that were pruned): what
			// happened then is in no backup.
			return Backup{}, fmt.Errorf("%s is after the end of a chain: the store can be restored as of %s (backup %s) or %s (backup %s), not in between",
				t.UTC().Format(time.RFC3339), taken(b).UTC().Format(time.RFC3339), b.ID, next.Time.UTC().Format(time.RFC3339), next.ID)
		}
		// Not before the chain's full backup is whole: it holds the store
		// as of its end, and nothing can be taken off it.
		if full, whole := links[0], taken(links[0]); !b.RestoreUntil.IsZero() && t.Before(whole) {
			return Backup{}, fmt.Errorf("%s falls while full backup %s was being taken; the store can be restored as of %s (backup %s) at the earliest, or to an older backup",
				t.UTC().Format(time.RFC3339), full.ID, whole.UTC().Format(time.RFC3339), full.ID)
		}
	}
	b.links = links
	for _, l := range links {
		b.Chain = append(b.Chain, l.ID)
	}
	return b, nil
}

// taken is when backup b's artifacts were taken: what it restores to, the
// newest of its artifacts' times, else the end of its upload.
func taken(b Backup) time.Time {
	end := b.Manifest.EndTime
	if len(b.Manifest.Artifacts) > 0 {
		end = time.Time{}
		for _, a := range b.Manifest.Artifacts {
			if a.Time.After(end) {
				end = a.Time
			}
		}
	}
	return end
}

// chainOf is chain, reading manifests as it walks the parents.
func (s *Store) chainOf(b Backup, read func(Backup) (Backup, error)) ([]Backup, error) {
	links := []Backup{b}
	for cur := b; cur.Manifest.differential(); {
		parent, err := read(Backup{ID: cur.Manifest.Parent, Status: Complete})
		if err != nil || len(links) > 10000 {
			return nil, fmt.Errorf("it builds on backup %s, which is missing or incomplete", cur.Manifest.Parent)
		}
		parent.Time, _ = ParseID(parent.ID)
		links = append([]Backup{parent}, links...)
		cur = parent
	}
	return links, nil
}

// olderComplete and newerComplete are the complete backups just before and
// after b in backups (oldest first).
func olderComplete(backups []Backup, b Backup) (Backup, bool) {
	for i := len(backups) - 1; i >= 0; i-- {
		if backups[i].Time.Before(b.Time) && backups[i].Status == Complete {
			return backups[i], true
		}
	}
	return Backup{}, false
}

func newerComplete(backups []Backup, b Backup) (Backup, bool) {
	for _, c := range backups {
		if c.Time.After(b.Time) && c.Status == Complete {
			return c, true
		}
	}
	return Backup{}, false
}

// CheckRestorePoint tells whether at could name a backup: "latest", an RFC
// 3339 time (a backup ID is one) or a legacy folder name. It asks no store,
// so annotations and flags can be checked when they are written.
func CheckRestorePoint(at string) error {
	if at == Latest {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, at); err == nil {
		return nil
	}
	if _, legacy, ok := parseFolderName(at); ok && legacy {
		return nil
	}
	return fmt.Errorf(`%q is not "latest", a backup ID, a time such as 2021-11-11T10:00:00Z, or a legacy backup's name such as 11Nov2021-10:00:00`, at)
}

// resolve picks from backups (oldest first) the one that at names. It never
// picks an incomplete backup, and a legacy one only by its exact name.
func resolve(backups []Backup, at string, loc Location) (Backup, error) {
	if err := CheckRestorePoint(at); err != nil {
		return Backup{}, err
	}
	for _, b := range backups {
		if b.ID != at {
			continue
		}
		if b.Status == Incomplete {
			return Backup{}, fmt.Errorf("backup %s in %s is incomplete (it has no manifest: its upload died or is still running); choose another, neo4j-backup list shows them", at, loc)
		}
		return b, nil
	}
	var before time.Time
	if at != Latest {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil { // a legacy name, and not found above
			return Backup{}, fmt.Errorf("there is no backup named %s in %s; neo4j-backup list shows the backups there", at, loc)
		}
		before = t
	}
	for i := len(backups) - 1; i >= 0; i-- {
		b := backups[i]
		if b.Status == Complete && (before.IsZero() || !b.Time.After(before)) {
			return b, nil
		}
	}
	if before.IsZero() {
		return Backup{}, fmt.Errorf("there is no complete backup in %s%s", loc, describeOthers(backups))
	}
	return Backup{}, fmt.Errorf("there is no complete backup at or before %s in %s%s", before.UTC().Format(IDLayout), loc, describeOthers(backups))
}

// describeOthers explains, for an error, what there is besides complete backups.
func describeOthers(backups []Backup) string {
	var complete, incomplete, legacy int
	var oldest string
	for _, b := range backups {
		switch b.Status {
		case Complete:
			complete++
			if oldest == "" {
				oldest = b.ID
			}
		case Incomplete:
			incomplete++
		case Legacy:
			legacy++
		}
	}
	switch {
	case complete > 0:
		return fmt.Sprintf(" (the oldest complete backup is %s)", oldest)
	case legacy > 0:
		return fmt.Sprintf(" (%d incomplete, %d legacy: restore a legacy backup by its exact name, neo4j-backup list shows them)", incomplete, legacy)
	case incomplete > 0:
		return fmt.Sprintf(" (%d incomplete: their uploads died or are still running)", incomplete)
	}
	return " (it is empty; check the location)"
}
