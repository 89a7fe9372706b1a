// Package podrestore is what the two injected init containers do inside a
// Neo4j pod (README "Restore a StatefulSet"): the fetch side decides whether
// a restore is due and stages the verified backup in /plugins with a plan;
// the restore side runs neo4j-admin on it, writes the marker into the data
// volume and removes what was staged. The in-pod layout they share is
// layout.go's.
package podrestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// Marker is /data/.neo4j-backup/restored: which restore request a data
// volume has already served.
type Marker struct {
	// Request is the restore annotation that was served (latest, a time, an
	// ID) and From the place it was resolved against. A pod restarted with
	// the same request restores nothing, even if `latest` now resolves to a
	// newer backup: restoring it would throw away what was written since.
	Request    string    `json:"request"`
	From       string    `json:"from"`
	BackupID   string    `json:"backupId"`
	Databases  []string  `json:"databases"`
	RestoredAt time.Time `json:"restoredAt"`
	// Role is the part the member played when it was restored, and Steps
	// the neo4j-admin calls that restored it, in order (README "Restore a
	// cluster").
	Role  neo4j.Role `json:"role,omitempty"`
	Steps []string   `json:"steps,omitempty"`
	// Chain and RestoreUntil are the Plan's: the backups the restore
	// applied and, when not zero, the time it stopped at (README "Restore
	// a StatefulSet").
	Chain        []string  `json:"chain,omitempty"`
	RestoreUntil time.Time `json:"restoreUntil,omitzero"`
}

// Holds reports whether the data volume holds what resolving a request
// gave: the same backup, restored to the same point.
func (m *Marker) Holds(b storage.Backup) bool {
	return m != nil && m.BackupID == b.ID && m.RestoreUntil.Equal(b.RestoreUntil)
}

// Serves reports whether the marker already served the request. The place
// is not compared: it moves without the user asking for a new restore (an
// upgrade that files backups by deployment, a new destination on the
// Namespace), and restoring then would throw away what was written since.
// A new restore is asked for with a new value: a backup ID or a time.
func (m *Marker) Serves(request string) bool {
	return m != nil && m.Request == request
}

// ReadMarker reads the marker; a missing one is (nil, nil).
func ReadMarker(path string) (*Marker, error) {
	var m Marker
	err := readJSON(path, &m)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the restore marker %s: %v; remove it to restore again", path, err)
	}
	return &m, nil
}

// Plan is what the fetch container leaves for the restore container in the
// stage folder: the backup to restore, or that there is nothing to do.
type Plan struct {
	Request   string   `json:"request"`
	From      string   `json:"from"`
	BackupID  string   `json:"backupId,omitempty"`
	Databases []string `json:"databases,omitempty"`
	// Dir is the verified backup's folder inside the stage folder.
	Dir string `json:"dir,omitempty"`
	// Skip says the data volume already holds this restore.
	Skip bool `json:"skip,omitempty"`
	// Legacy says the backup had no manifest and was not verified.
	Legacy bool `json:"legacy,omitempty"`
	// Chain is the backups whose files are in Dir, oldest (the full one)
	// first and BackupID last: neo4j-admin restores a chain from its last
	// artifact with the others beside it. RestoreUntil, when not zero, is
	// the time the request named inside the chain: the restore stops there
	// (--restore-until), so the store is as of that time.
	Chain        []string  `json:"chain,omitempty"`
	RestoreUntil time.Time `json:"restoreUntil,omitzero"`
}

// PlanFile is the plan's name in the stage folder.
const PlanFile = "plan.json"

// ReadPlan reads the plan from the stage folder.
func ReadPlan(stage string) (*Plan, error) {
	var p Plan
	if err := readJSON(filepath.Join(stage, PlanFile), &p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("nothing staged in %s: the %s container did not finish; see its log", stage, FetchContainer)
		}
		return nil, fmt.Errorf("reading the plan in %s: %v", stage, err)
	}
	return &p, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON writes v to path atomically: a reader sees the old file or the
// whole new one, never a part.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
