package storage

import (
	"fmt"
	"time"
)

// Status says whether a backup can be restored.
type Status string

const (
	// Complete backups have a manifest: every file is listed with its
	// checksum, and the manifest was written after all of them.
	Complete Status = "complete"
	// Incomplete backups have no manifest: an upload still running or one
	// that died. They are never restored, and are pruned after a day.
	Incomplete Status = "incomplete"
	// Legacy backups are folders written by the old s3cmd CronJob, named
	// like 11Nov2021-10:00:00. They are restored by exact name only, and
	// unverified: there is no manifest to check them against.
	Legacy Status = "legacy"
)

// Backup is one backup folder under a location.
type Backup struct {
	ID     string    // the folder name: a backup ID or a legacy name
	Time   time.Time // when it started, from its name
	Status Status

	// Filled by List and Fetch; zero after Resolve on an incomplete backup.
	Size      int64    // bytes in its files
	Files     int      // number of files, manifest.json not counted
	Databases []string // from the manifest; empty for legacy backups

	Manifest *Manifest // complete backups, once read

	// Chain is, after Resolve and Fetch, the backups restoring this one
	// takes, oldest (the full one) first and this one last: just itself
	// unless it is a differential backup. RestoreUntil, when not zero, is
	// the time to restore to inside it (neo4j-admin's --restore-until):
	// Resolve was given a time between its parent and it.
	Chain        []string
	RestoreUntil time.Time
	links        []Backup // Chain, with their manifests
}

// IDLayout is the backup ID: the UTC time the backup started, to the second.
const IDLayout = "2006-01-02T15:04:05Z"

// legacyLayout is the folder name the old CronJob used: date +%d%b%Y-%H:%M:%S.
const legacyLayout = "02Jan2006-15:04:05"

// NewID returns the backup ID for a backup started at t.
func NewID(t time.Time) string { return t.UTC().Format(IDLayout) }

// ParseID reads a backup ID such as 2021-11-11T10:00:00Z.
func ParseID(id string) (time.Time, error) {
	t, err := time.Parse(IDLayout, id)
	if err != nil || t.Format(IDLayout) != id {
		return time.Time{}, fmt.Errorf("%q is not a backup ID; a backup ID is the UTC start time to the second, like 2021-11-11T10:00:00Z", id)
	}
	return t, nil
}

// parseFolderName tells what a folder under a location is: a backup (by ID),
// a legacy backup (by its old name, read as UTC), or neither.
func parseFolderName(name string) (t time.Time, legacy, ok bool) {
	if t, err := ParseID(name); err == nil {
		return t, false, true
	}
	if t, err := time.Parse(legacyLayout, name); err == nil && t.Format(legacyLayout) == name {
		return t, true, true
	}
	return time.Time{}, false, false
}
