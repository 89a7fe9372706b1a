package podrestore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// Store is what the fetch side needs of the object store.
type Store interface {
	Resolve(ctx context.Context, at string) (storage.Backup, error)
	Fetch(ctx context.Context, at, dir string, opts storage.FetchOptions) (storage.Backup, string, error)
}

// StageOptions are what the fetch container is started with.
type StageOptions struct {
	At    string // the restore annotation
	From  string // the location it is resolved against, as written
	Stage string // the stage folder in /plugins
	// Marker is the restore marker in the data volume (mounted read-only).
	Marker string
	// InstallSelf is where a copy of this binary goes, for the restore
	// container that runs in the Neo4j image.
	InstallSelf string
	Progress    storage.Progress
	Log         io.Writer
}

// Stage decides whether the data volume needs this restore and, if so,
// fetches and verifies the backup into the stage folder; either way it
// leaves a plan and this binary for the restore container. It never writes
// to the data volume.
//
// A restore is not due when the marker shows the same request was served
// already (decided before the store is asked, so a restarted pod starts
// even while the store is unreachable), or when the request resolves to the
// backup the volume already holds.
func Stage(ctx context.Context, store Store, o StageOptions) (*Plan, error) {
	marker, err := ReadMarker(o.Marker)
	if err != nil {
		return nil, err
	}
	// What an earlier attempt left is not trusted: start from nothing.
	if err := os.RemoveAll(o.Stage); err != nil {
		return nil, fmt.Errorf("clearing %s: %v", o.Stage, err)
	}
	if err := os.MkdirAll(o.Stage, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %v; is the stage volume writable?", o.Stage, err)
	}
	plan := &Plan{Request: o.At, From: o.From}
	switch {
	case marker.Serves(o.At):
		fmt.Fprintf(o.Log, "the data volume already holds backup %s, restored for %s on %s; nothing to fetch\n", marker.BackupID, o.At, marker.RestoredAt.Format("2006-01-02 15:04:05Z"))
		if marker.From != o.From {
			fmt.Fprintf(o.Log, "it was restored from %s and backups are now looked for in %s; the request is the same, so nothing is restored: annotate a backup ID or time to restore again\n", marker.From, o.From)
		}
		plan.Skip, plan.BackupID = true, marker.BackupID
	default:
		b, err := store.Resolve(ctx, o.At)
		if err != nil {
			return nil, err
		}
		if marker.Holds(b) {
			fmt.Fprintf(o.Log, "%s is backup %s%s, which the data volume already holds; nothing to fetch\n", o.At, b.ID, until(b.RestoreUntil))
			plan.Skip, plan.BackupID = true, b.ID
			break
		}
		// Fetched by ID, so that it is the backup just resolved even if
		// latest moves on; the time inside its chain is Resolve's to tell.
		restoreUntil := b.RestoreUntil
		b, path, err := store.Fetch(ctx, b.ID, o.Stage, storage.FetchOptions{Progress: o.Progress})
		if err != nil {
			return nil, err
		}
		plan.BackupID, plan.Dir = b.ID, filepath.Base(path)
		plan.Chain, plan.RestoreUntil = b.Chain, restoreUntil
		if b.Status == storage.Legacy {
			in, databases, err := neo4j.LegacyDatabases(path)
			if err != nil {
				os.RemoveAll(path) // nothing in it is of use to the restore container
				return nil, fmt.Errorf("legacy backup %s cannot be restored: %v; annotate another backup (neo4j-backup list shows them)", b.ID, err)
			}
			// The plan points at the folder that holds the database
			// folders, so that tmp/ is never restored as a database.
			plan.Dir, plan.Databases, plan.Legacy = filepath.Join(plan.Dir, filepath.FromSlash(in)), databases, true
			fmt.Fprintln(o.Log, LegacyFetched(b.ID, in, databases))
			break
		}
		plan.Databases = b.Databases
		if len(plan.Databases) == 0 {
			if plan.Databases, err = neo4j.DatabasesIn(path); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(o.Log, "fetched and verified backup %s%s (%s) for %s%s\n", b.ID, chainOf(plan.Chain), joinOr(plan.Databases, "no database"), o.At, until(plan.RestoreUntil))
	}
	if o.InstallSelf != "" {
		if err := installSelf(o.InstallSelf); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(filepath.Join(o.Stage, PlanFile), plan); err != nil {
		return nil, fmt.Errorf("writing the plan: %v", err)
	}
	return plan, nil
}

// LegacyFetched is the line that says legacy backup id was fetched, with
// its databases, found in folder in of it (README "By hand").
func LegacyFetched(id, in string, databases []string) string {
	where := ""
	if in != "" {
		where = ", in " + in + "/"
	}
	return fmt.Sprintf("warning: %s is a legacy backup without a manifest; its files were fetched unverified (databases %s%s)", id, strings.Join(databases, ", "), where)
}

// installSelf copies the running binary to path, for the restore container.
func installSelf(path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".partial"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("copying neo4j-backup for the restore container: %v", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying neo4j-backup for the restore container: %v", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// chainOf describes, for the log, the backups a differential backup
// restores with: "" for a backup that is its own chain.
func chainOf(chain []string) string {
	if len(chain) < 2 {
		return ""
	}
	return fmt.Sprintf(" with its chain %s", strings.Join(chain, " → "))
}

// until describes, for the log, the time a restore stops at: "" for the
// end of the chain.
func until(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ", to be restored to what was committed before " + t.UTC().Format(neo4j.RestoreUntilLayout) + " UTC"
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return fmt.Sprint(items)
}
