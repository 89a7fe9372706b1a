package podrestore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// commit appends transactions from, from+1, … to the live database folder
// db, one at each of times, as the stand-in's transactions.log takes them,
// and returns the lines written.
func commit(t *testing.T, db string, from int, times ...time.Time) []string {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(db, "transactions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for i, at := range times {
		line := fmt.Sprintf("%d %s CREATE (:Tx {n: %d})", from+i, at.UTC().Format(time.RFC3339Nano), from+i)
		if _, err := f.WriteString(line + "\n"); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	return lines
}

// A staged chain (a full backup and two differential ones in one folder,
// as Fetch lands it) restores from the last artifact of each database,
// stopped at the plan's RestoreUntil: the restored transaction log is the
// live one as of that time, without the transaction committed at it
// (restore-backup.adoc: "committed before"). Without RestoreUntil the
// whole chain is restored.
func TestRestoreChainUntil(t *testing.T) {
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	for _, tt := range []struct {
		name  string
		until time.Time
		want  int // transactions restored
	}{
		{"until between the differentials", at(25), 8},
		{"until the second of a transaction which it leaves out", at(24), 7},
		{"the whole chain", time.Time{}, 9},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, log := useStandin(t, "5.26.0")
			live := os.Getenv("NEO4J_STANDIN_LIVE")
			stageDir := filepath.Join(t.TempDir(), "neo4j-backup")
			dir := filepath.Join(stageDir, "2021-11-11T12:00:00Z")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			backup := func(typ string) {
				t.Helper()
				out, err := exec.Command("neo4j-admin", "database", "backup", "--to-path="+dir, "--type="+typ, "neo4j", "system").CombinedOutput()
				if err != nil {
					t.Fatalf("backup --type=%s: %v: %s", typ, err, out)
				}
			}
			var lines []string
			lines = append(lines, commit(t, filepath.Join(live, "neo4j"), 1, at(0), at(1), at(2))...)
			backup("FULL")
			lines = append(lines, commit(t, filepath.Join(live, "neo4j"), 4, at(10), at(11), at(12))...)
			backup("DIFF")
			lines = append(lines, commit(t, filepath.Join(live, "neo4j"), 7, at(20), at(24), at(26))...)
			backup("DIFF")
			artifacts, _ := filepath.Glob(filepath.Join(dir, "*.backup"))
			if len(artifacts) != 6 {
				t.Fatalf("the stand-in wrote %v; want three artifacts of each of two databases", artifacts)
			}
			plan := Plan{Request: "2021-11-11T11:30:00Z", From: "s3://b/p/ns/sts", BackupID: "2021-11-11T12:00:00Z", Databases: []string{"neo4j", "system"},
				Dir: filepath.Base(dir), Chain: []string{"2021-11-11T10:00:00Z", "2021-11-11T11:00:00Z", "2021-11-11T12:00:00Z"}, RestoreUntil: tt.until}
			if err := writeJSON(filepath.Join(stageDir, PlanFile), plan); err != nil {
				t.Fatal(err)
			}
			// The restore removes the stage: its last artifacts, named first.
			last := map[string]string{}
			for _, db := range []string{"neo4j", "system"} {
				names, _ := filepath.Glob(filepath.Join(dir, db+"-*.backup"))
				slices.Sort(names)
				last[db] = names[len(names)-1]
			}
			newest := func(db string) string { return last[db] }
			os.Remove(log)
			out, err := runRestore(t, stageDir, data)
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			until := ""
			if !tt.until.IsZero() {
				until = " --restore-until=" + tt.until.Format("2006-01-02 15:04:05")
			}
			wantAdminCalls(t, log, stageDir, []string{
				"neo4j-admin database restore --from-path=" + newest("system") + until + " --overwrite-destination=true system",
				"neo4j-admin database restore --from-path=" + newest("neo4j") + until + " --overwrite-destination=true neo4j",
			})
			got, err := os.ReadFile(filepath.Join(data, "databases", "neo4j", "transactions.log"))
			if want := strings.Join(lines[:tt.want], "\n") + "\n"; err != nil || string(got) != want {
				t.Errorf("restored transactions.log:\n%s(%v)\nwant the live one as of the point restored:\n%s", got, err, want)
			}
			m, err := ReadMarker(filepath.Join(data, ".neo4j-backup", "restored"))
			if err != nil || m == nil || !slices.Equal(m.Chain, plan.Chain) || !m.RestoreUntil.Equal(tt.until) {
				t.Errorf("marker = %+v, %v; want chain %v and restore-until %v", m, err, plan.Chain, tt.until)
			}
			if tt.until.IsZero() == strings.Contains(out, "restored to what was committed before") {
				t.Errorf("the log says\n%s\nwant it to name the time restored to exactly when there is one", out)
			}
		})
	}
}

// RestoreUntil reaches neo4j-admin as the manual writes it, right after
// --from-path; a fraction of a second is dropped with a warning, and a 4.x
// backup, which has no chain, is refused one.
func TestProcedureRestoreUntil(t *testing.T) {
	until := time.Date(2021, 11, 11, 10, 30, 15, 0, time.UTC)
	backups := []databaseBackup{{"system", "B/system-2021-11-11T11-00-00.backup"}, {"neo4j", "B/neo4j-2021-11-11T11-00-00.backup"}}
	for _, tt := range []struct {
		version string
		role    neo4j.Role
		until   time.Time
		want    []string
		warning string
		err     string
	}{
		{"5.26.0", neo4j.Standalone, until, []string{
			"neo4j-admin database restore --from-path=B/system-2021-11-11T11-00-00.backup --restore-until=2021-11-11 10:30:15 --overwrite-destination=true system",
			"neo4j-admin database restore --from-path=B/neo4j-2021-11-11T11-00-00.backup --restore-until=2021-11-11 10:30:15 --overwrite-destination=true neo4j",
		}, "", ""},
		{"2025.06.0", neo4j.Standalone, until.Add(500 * time.Millisecond), []string{
			"neo4j-admin database restore --from-path=B/system-2021-11-11T11-00-00.backup --restore-until=2021-11-11 10:30:15 --overwrite-destination=true system",
			"neo4j-admin database restore --from-path=B/neo4j-2021-11-11T11-00-00.backup --restore-until=2021-11-11 10:30:15 --overwrite-destination=true neo4j",
		}, "neo4j-admin restores to whole seconds: 2021-11-11T10:30:15.5Z restores what was committed before 2021-11-11 10:30:15 UTC", ""},
		{"5.26.0", neo4j.Standalone, time.Time{}, []string{
			"neo4j-admin database restore --from-path=B/system-2021-11-11T11-00-00.backup --overwrite-destination=true system",
			"neo4j-admin database restore --from-path=B/neo4j-2021-11-11T11-00-00.backup --overwrite-destination=true neo4j",
		}, "", ""},
		{"4.4.31", neo4j.Standalone, until, nil, "", "Neo4j 4.4.31 restores whole backups only; restore-until is for Neo4j 5 and later; annotate a backup ID instead"},
	} {
		name := fmt.Sprintf("%s until %v", tt.version, tt.until)
		v, err := neo4j.ParseVersion(tt.version)
		if err != nil {
			t.Fatal(err)
		}
		plan := &Plan{From: "s3://b/p/ns/graph", BackupID: "2021-11-11T11:00:00Z", Chain: []string{"2021-11-11T10:00:00Z", "2021-11-11T11:00:00Z"}, RestoreUntil: tt.until}
		got, err := procedure(v, tt.role, plan, backups, false)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: procedure = %v, %v; want an error saying %q", name, got.steps, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var calls []string
		for _, s := range got.steps {
			calls = append(calls, strings.Join(s.args, " "))
		}
		if !slices.Equal(calls, tt.want) {
			t.Errorf("%s: steps\n  %s\nwant\n  %s", name, strings.Join(calls, "\n  "), strings.Join(tt.want, "\n  "))
		}
		if w := strings.Join(got.warnings, "\n"); w != tt.warning {
			t.Errorf("%s: warnings %q, want %q", name, w, tt.warning)
		}
	}
}

// chainStore resolves every request to backup id with restore-until until,
// the last of chain, and fetches it as an empty folder.
type chainStore struct {
	id      string
	chain   []string
	until   time.Time
	fetched []string
}

func (s *chainStore) Resolve(context.Context, string) (storage.Backup, error) {
	return storage.Backup{ID: s.id, Status: storage.Complete, Databases: []string{"neo4j"}, Chain: s.chain, RestoreUntil: s.until}, nil
}

// Fetch resolves by ID, as the store does: a backup ID has no
// restore-until.
func (s *chainStore) Fetch(_ context.Context, at, dir string, _ storage.FetchOptions) (storage.Backup, string, error) {
	s.fetched = append(s.fetched, at)
	path := filepath.Join(dir, at)
	return storage.Backup{ID: at, Status: storage.Complete, Databases: []string{"neo4j"}, Chain: s.chain}, path, os.MkdirAll(path, 0o755)
}

// The stage carries the chain and the restore-until of what the request
// resolved to into the plan, though it fetches by backup ID; and a data
// volume that holds the same backup restored to another time is restored
// again, one that holds it to the same time is not.
func TestStageCarriesRestoreUntil(t *testing.T) {
	until := time.Date(2021, 11, 11, 10, 30, 0, 0, time.UTC)
	chain := []string{"2021-11-11T10:00:00Z", "2021-11-11T11:00:00Z"}
	for _, tt := range []struct {
		name   string
		marker *Marker
		skip   bool
	}{
		{"a fresh volume", nil, false},
		{"the same backup restored whole", &Marker{Request: "latest", BackupID: chain[1], Chain: chain}, false},
		{"the same backup restored to another time", &Marker{Request: "2021-11-11T10:20:00Z", BackupID: chain[1], Chain: chain, RestoreUntil: until.Add(-10 * time.Minute)}, false},
		{"the same backup restored to this time", &Marker{Request: "2021-11-11T10:30:00.000Z", BackupID: chain[1], Chain: chain, RestoreUntil: until}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), ".neo4j-backup", "restored")
			if tt.marker != nil {
				if err := writeJSON(marker, tt.marker); err != nil {
					t.Fatal(err)
				}
			}
			store := &chainStore{id: chain[1], chain: chain, until: until}
			stageDir := filepath.Join(t.TempDir(), "stage")
			var log strings.Builder
			plan, err := Stage(context.Background(), store, StageOptions{At: "2021-11-11T10:30:00Z", From: "s3://b/p/ns/graph", Stage: stageDir, Marker: marker, Log: &log})
			if err != nil {
				t.Fatal(err)
			}
			if tt.skip {
				if !plan.Skip || len(store.fetched) > 0 {
					t.Errorf("plan %+v, fetched %v; want a skip without a fetch", plan, store.fetched)
				}
				return
			}
			if plan.Skip || !slices.Equal(store.fetched, []string{chain[1]}) {
				t.Fatalf("plan %+v, fetched %v; want backup %s fetched by ID", plan, store.fetched, chain[1])
			}
			written, err := ReadPlan(stageDir)
			if err != nil || !slices.Equal(written.Chain, chain) || !written.RestoreUntil.Equal(until) || written.BackupID != chain[1] {
				t.Errorf("plan in the stage = %+v, %v; want backup %s, chain %v, restore-until %v", written, err, chain[1], chain, until)
			}
			if want := "to be restored to what was committed before 2021-11-11 10:30:00 UTC"; !strings.Contains(log.String(), want) {
				t.Errorf("the fetch said %q; want it to say %q", log.String(), want)
			}
		})
	}
}
