package podrestore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

var standin struct {
	once sync.Once
	dir  string
	err  error
}

// useStandin puts the stand-in neo4j-admin, playing version, on PATH, with
// a live server holding databases neo4j and system, and returns the data
// folder it restores into and the log of its invocations.
func useStandin(t *testing.T, version string) (data, log string) {
	t.Helper()
	standin.once.Do(func() {
		standin.dir, standin.err = os.MkdirTemp("", "neo4j-admin-standin-")
		if standin.err == nil {
			out, err := exec.Command("go", "build", "-o", filepath.Join(standin.dir, "neo4j-admin"), "../e2e/neo4j-admin-standin").CombinedOutput()
			if err != nil {
				standin.err = &buildError{err, string(out)}
			}
		}
	})
	if standin.err != nil {
		t.Fatalf("building the stand-in neo4j-admin: %v", standin.err)
	}
	tmp := t.TempDir()
	live := filepath.Join(tmp, "live")
	for _, db := range []string{"neo4j", "system"} {
		testfiles.Write(t, filepath.Join(live, db, "neostore"), "store of "+db)
		testfiles.Write(t, filepath.Join(live, db, "schema", "index"), "index of "+db)
	}
	data, log = filepath.Join(tmp, "data"), filepath.Join(tmp, "admin.log")
	t.Setenv("PATH", standin.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("NEO4J_STANDIN_VERSION", version)
	t.Setenv("NEO4J_STANDIN_LIVE", live)
	t.Setenv("NEO4J_STANDIN_DATA", data)
	t.Setenv("NEO4J_STANDIN_LOG", log)
	t.Setenv("NEO4J_CONF", filepath.Join(tmp, "conf"))
	return data, log
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.output }

// stage takes a backup with the stand-in, as the backup CronJob does, and
// stages it with a plan, as the fetch container does.
func stage(t *testing.T, backupArgs ...string) string {
	t.Helper()
	stageDir := filepath.Join(t.TempDir(), "neo4j-backup")
	backupDir := filepath.Join(stageDir, "2021-11-11T10:00:00Z")
	if err := os.MkdirAll(backupDir, 0o755); err != nil { // neo4j-admin needs it to exist
		t.Fatal(err)
	}
	for _, a := range backupArgs {
		args := strings.Fields(strings.ReplaceAll(a, "DIR", backupDir))
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", a, err, out)
		}
	}
	plan := Plan{Request: "latest", From: "s3://b/p/ns/sts", BackupID: "2021-11-11T10:00:00Z", Databases: []string{"neo4j", "system"}, Dir: "2021-11-11T10:00:00Z"}
	if err := writeJSON(filepath.Join(stageDir, PlanFile), plan); err != nil {
		t.Fatal(err)
	}
	return stageDir
}

func runRestore(t *testing.T, stageDir, data string, databases ...string) (string, error) {
	var log bytes.Buffer
	err := Run(context.Background(), Options{
		Stage: stageDir, Marker: filepath.Join(data, ".neo4j-backup", "restored"), Databases: databases, Stderr: &log,
		Now: func() time.Time { return time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC) },
	})
	return log.String(), err
}

func TestRestoreEachVersionLine(t *testing.T) {
	tests := []struct {
		version string
		backup  []string
		want    []string // the restore invocations, in order
	}{
		{"4.1.12",
			[]string{"neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=neo4j", "neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=system"},
			[]string{"neo4j-admin restore --from=STAGE/2021-11-11T10:00:00Z/system --database=system --force", "neo4j-admin restore --from=STAGE/2021-11-11T10:00:00Z/neo4j --database=neo4j --force"}},
		{"4.2.8",
			[]string{"neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=neo4j", "neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=system"},
			[]string{"neo4j-admin restore --from=STAGE/2021-11-11T10:00:00Z/system --database=system --force", "neo4j-admin restore --from=STAGE/2021-11-11T10:00:00Z/neo4j --database=neo4j --force"}},
		{"5.26.0",
			[]string{"neo4j-admin database backup --from=a:6362,b:6362 --to-path=DIR neo4j system"},
			[]string{"neo4j-admin database restore --from-path=STAGE/2021-11-11T10:00:00Z/system-* --overwrite-destination=true system", "neo4j-admin database restore --from-path=STAGE/2021-11-11T10:00:00Z/neo4j-* --overwrite-destination=true neo4j"}},
		{"2025.06.0",
			[]string{"neo4j-admin database backup --from=a:6362 --to-path=DIR neo4j system"},
			[]string{"neo4j-admin database restore --from-path=STAGE/2021-11-11T10:00:00Z/system-* --overwrite-destination=true system", "neo4j-admin database restore --from-path=STAGE/2021-11-11T10:00:00Z/neo4j-* --overwrite-destination=true neo4j"}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			data, log := useStandin(t, tt.version)
			// Something already on the data volume, to be replaced.
			testfiles.Write(t, filepath.Join(data, "databases", "neo4j", "neostore"), "old store")
			stageDir := stage(t, tt.backup...)
			os.Remove(log)
			if out, err := runRestore(t, stageDir, data); err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			calls, _ := os.ReadFile(log)
			got := strings.Split(strings.TrimSpace(string(calls)), "\n")
			want := append([]string{"neo4j-admin --version"}, tt.want...)
			if len(got) != len(want) {
				t.Fatalf("neo4j-admin was called\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for i := range want {
				pattern := strings.ReplaceAll(want[i], "STAGE", stageDir)
				if ok, _ := filepath.Match(pattern, got[i]); !ok {
					t.Errorf("call %d = %s\nwant      %s", i, got[i], pattern)
				}
			}
			for _, db := range []string{"neo4j", "system"} {
				b, err := os.ReadFile(filepath.Join(data, "databases", db, "neostore"))
				if err != nil || string(b) != "store of "+db {
					t.Errorf("database %s after the restore: %q, %v; want the backup's store", db, b, err)
				}
			}
			m, err := ReadMarker(filepath.Join(data, ".neo4j-backup", "restored"))
			if err != nil || m == nil || m.BackupID != "2021-11-11T10:00:00Z" || !m.Serves("latest") {
				t.Errorf("marker = %+v, %v; want backup 2021-11-11T10:00:00Z for request latest", m, err)
			}
			if _, err := os.Stat(stageDir); !os.IsNotExist(err) {
				t.Errorf("the stage folder is still there after the restore (%v)", err)
			}
		})
	}
}

func TestRestoreFailuresWriteNoMarker(t *testing.T) {
	t.Run("a 5.x backup on a 4.x image", func(t *testing.T) {
		data, _ := useStandin(t, "5.26.0")
		stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
		t.Setenv("NEO4J_STANDIN_VERSION", "4.4.40")
		_, err := runRestore(t, stageDir, data)
		wantFailure(t, err, data, "the backup has no a folder named after it (Neo4j 4) for database system")
	})
	t.Run("a database the backup lacks", func(t *testing.T) {
		data, _ := useStandin(t, "5.26.0")
		stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
		_, err := runRestore(t, stageDir, data, "movies")
		wantFailure(t, err, data, "database movies is not in backup 2021-11-11T10:00:00Z (it has neo4j, system)")
	})
	t.Run("neo4j-admin fails", func(t *testing.T) {
		data, _ := useStandin(t, "5.26.0")
		stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
		artifacts, _ := filepath.Glob(filepath.Join(stageDir, "*", "neo4j-*.backup"))
		os.WriteFile(artifacts[0], []byte("not a tar"), 0o644)
		_, err := runRestore(t, stageDir, data)
		wantFailure(t, err, data, "restoring database neo4j from backup 2021-11-11T10:00:00Z")
		if _, err := os.Stat(stageDir); err != nil {
			t.Errorf("the stage folder was removed after a failed restore: %v", err)
		}
	})
	t.Run("nothing staged", func(t *testing.T) {
		data, _ := useStandin(t, "5.26.0")
		_, err := runRestore(t, t.TempDir(), data)
		wantFailure(t, err, data, "the neo4j-backup-fetch container did not finish")
	})
}

func TestRestoreSkipsWhatWasDone(t *testing.T) {
	data, log := useStandin(t, "5.26.0")
	stageDir := filepath.Join(t.TempDir(), "stage")
	if err := writeJSON(filepath.Join(stageDir, PlanFile), Plan{Request: "latest", From: "s3://b/p", Skip: true}); err != nil {
		t.Fatal(err)
	}
	if out, err := runRestore(t, stageDir, data); err != nil || !strings.Contains(out, "already done") {
		t.Fatalf("got %v, log %q; want success saying it was already done", err, out)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Errorf("neo4j-admin was run for a restore already done")
	}
}

func wantFailure(t *testing.T, err error, data, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the restore succeeded; want an error saying %q", message)
	}
	if !strings.Contains(err.Error(), message) {
		t.Errorf("error = %v; want one saying %q", err, message)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if m, _ := ReadMarker(filepath.Join(data, ".neo4j-backup", "restored")); m != nil {
		t.Errorf("a marker was written after a failed restore: %+v", m)
	}
}

// restore-databases names databases as Neo4j does: case-insensitively.
func TestPickMatchesNamesAsNeo4jDoes(t *testing.T) {
	plan := &Plan{BackupID: "2021-11-11T10:00:00Z", Databases: []string{"movies", "neo4j", "system"}}
	for _, tt := range []struct {
		wanted []string
		want   string
		err    string
	}{
		{nil, "system,movies,neo4j", ""},
		{[]string{"Neo4j"}, "neo4j", ""},
		{[]string{"NEO4J", "System", "neo4j"}, "system,neo4j", ""},
		{[]string{"Movies", "SYSTEM"}, "system,movies", ""},
		{[]string{"Shop"}, "", "database Shop is not in backup 2021-11-11T10:00:00Z (it has movies, neo4j, system)"},
	} {
		got, err := pick(plan, tt.wanted)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("pick(%v) = %v, %v; want an error saying %q", tt.wanted, got, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tt.want {
			t.Errorf("pick(%v) = %v, %v; want %s", tt.wanted, got, err, tt.want)
		}
	}
}

func TestRestoreMixedCaseDatabase(t *testing.T) {
	data, log := useStandin(t, "5.26.0")
	stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
	os.Remove(log)
	if out, err := runRestore(t, stageDir, data, "Neo4j"); err != nil {
		t.Fatalf("restore of Neo4j: %v\n%s", err, out)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "--overwrite-destination=true neo4j\n") {
		t.Errorf("neo4j-admin was called\n%s\nwant a restore of neo4j", calls)
	}
	if b, err := os.ReadFile(filepath.Join(data, "databases", "neo4j", "neostore")); err != nil || string(b) != "store of neo4j" {
		t.Errorf("database neo4j after the restore: %q, %v", b, err)
	}
}

// storeNotAsked fails the test if the store is asked anything.
type storeNotAsked struct{ t *testing.T }

func (s storeNotAsked) Resolve(context.Context, string) (storage.Backup, error) {
	s.t.Error("the store was asked to resolve a request the marker shows served")
	return storage.Backup{}, errors.New("not asked")
}

func (s storeNotAsked) Fetch(context.Context, string, string, storage.FetchOptions) (storage.Backup, string, error) {
	s.t.Error("the store was asked to fetch a request the marker shows served")
	return storage.Backup{}, "", errors.New("not asked")
}

// A request already served is not restored again when only the place moved
// (backups now filed by deployment, another destination on the Namespace):
// restoring then would throw away what was written since.
func TestStageSkipsTheSameRequestFromAMovedPlace(t *testing.T) {
	data := t.TempDir()
	marker := filepath.Join(data, ".neo4j-backup", "restored")
	if err := writeJSON(marker, Marker{Request: "latest", From: "s3://b/p/ns/graph-core", BackupID: "2021-11-11T10:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	plan, err := Stage(context.Background(), storeNotAsked{t}, StageOptions{
		At: "latest", From: "s3://b/p/ns/graph", Stage: filepath.Join(t.TempDir(), "stage"), Marker: marker, Log: &log,
	})
	if err != nil || !plan.Skip || plan.BackupID != "2021-11-11T10:00:00Z" {
		t.Fatalf("Stage = %+v, %v; want a skip of backup 2021-11-11T10:00:00Z", plan, err)
	}
	if !strings.Contains(log.String(), "backups are now looked for in s3://b/p/ns/graph") {
		t.Errorf("log %q does not say the place moved", log.String())
	}
}
