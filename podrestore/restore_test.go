package podrestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
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
	return runRestoreAs(t, "", stageDir, data, databases...)
}

// runRestoreAs restores as the restore container of a pod whose chart
// labels give it role hint.
func runRestoreAs(t *testing.T, hint neo4j.Role, stageDir, data string, databases ...string) (string, error) {
	var log bytes.Buffer
	err := Run(context.Background(), Options{
		Stage: stageDir, Marker: filepath.Join(data, ".neo4j-backup", "restored"), Databases: databases, RoleHint: hint, Stderr: &log,
		Now: func() time.Time { return time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC) },
	})
	return log.String(), err
}

// TestRestoreClusterMembers restores onto data volumes that hold a cluster
// member's state, which the stand-in reads as Neo4j would: 4.x refuses a
// restore until unbind has removed it, 5.x refuses to overwrite a database
// that has cluster state (README "Restore a cluster"). The role comes from
// the environment, a config file or the chart labels' hint.
func TestRestoreClusterMembers(t *testing.T) {
	backup4 := []string{"neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=neo4j", "neo4j-admin backup --from=core-0:6362 --backup-dir=DIR --database=system"}
	backup5 := []string{"neo4j-admin database backup --from=a:6362 --to-path=DIR neo4j system"}
	state4 := []string{"core-member-id-state/x", "db/system/raft-log", "db/neo4j/raft-log"}
	state5 := []string{"db/system/raft-log", "db/neo4j/raft-log"}
	for _, tt := range []struct {
		name, version string
		backup        []string
		state         []string          // under <data>/cluster-state
		env           map[string]string // the container's environment
		conf          map[string]string // files under $NEO4J_CONF
		hint          neo4j.Role        // from the chart labels
		databases     []string          // restore-databases
		want          []string          // the calls after --version, globs
		role          neo4j.Role
		restored      []string // databases the backup's store must be in
		stateLeft     []string // what of the cluster state must stay
	}{
		{
			name: "4.4 core by env", version: "4.4.31", backup: backup4, state: state4,
			env:  map[string]string{"NEO4J_dbms_mode": "CORE"},
			want: []string{"neo4j-admin unbind", "neo4j-admin restore --from=STAGE/*/system --database=system --force", "neo4j-admin restore --from=STAGE/*/neo4j --database=neo4j --force"},
			role: neo4j.Core, restored: []string{"system", "neo4j"},
		},
		{
			name: "4.4 read replica by its config folder and command expansion", version: "4.4.31", backup: backup4, state: state4,
			conf: map[string]string{"neo4j.conf/dbms.mode": "READ_REPLICA\n", "neo4j.conf/dbms.routing.advertised_address": "$(bash -c 'echo ${HOST}')"},
			want: []string{"neo4j-admin unbind --expand-commands", "neo4j-admin restore --from=STAGE/*/system --database=system --force --expand-commands", "neo4j-admin restore --from=STAGE/*/neo4j --database=neo4j --force --expand-commands"},
			role: neo4j.ReadReplica, restored: []string{"system", "neo4j"},
		},
		{
			name: "4.2 core by the chart labels alone and neo4j only", version: "4.2.8", backup: backup4, state: state4,
			hint: neo4j.Core, databases: []string{"neo4j"},
			want: []string{"neo4j-admin unbind", "neo4j-admin restore --from=STAGE/*/neo4j --database=neo4j --force"},
			role: neo4j.Core, restored: []string{"neo4j"},
		},
		{
			name: "5.26 server by env and system", version: "5.26.0", backup: backup5, state: state5,
			env: map[string]string{"NEO4J_dbms_cluster_discovery_resolver__type": "K8S"}, databases: []string{"system"},
			want: []string{"neo4j-admin dbms unbind-system-db", "neo4j-admin database restore --from-path=STAGE/*/system-*.backup --overwrite-destination=true system"},
			role: neo4j.Server, restored: []string{"system"}, stateLeft: []string{"db/neo4j/raft-log"},
		},
		{
			name: "2025.06 server by the chart labels and system", version: "2025.06.0", backup: backup5, state: state5,
			hint: neo4j.Server, databases: []string{"SYSTEM"},
			want: []string{"neo4j-admin dbms unbind-system-db", "neo4j-admin database restore --from-path=STAGE/*/system-*.backup --overwrite-destination=true system"},
			role: neo4j.Server, restored: []string{"system"}, stateLeft: []string{"db/neo4j/raft-log"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, log := useStandin(t, tt.version)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			for name, content := range tt.conf {
				testfiles.Write(t, filepath.Join(os.Getenv("NEO4J_CONF"), name), content)
			}
			for _, db := range []string{"neo4j", "system"} {
				testfiles.Write(t, filepath.Join(data, "databases", db, "neostore"), "old store")
			}
			for _, f := range tt.state {
				testfiles.Write(t, filepath.Join(data, "cluster-state", f), "state")
			}
			stageDir := stage(t, tt.backup...)
			os.Remove(log)
			out, err := runRestoreAs(t, tt.hint, stageDir, data, tt.databases...)
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			got := wantAdminCalls(t, log, stageDir, tt.want)
			for _, db := range []string{"neo4j", "system"} {
				want := "old store"
				if slices.Contains(tt.restored, db) {
					want = "store of " + db
				}
				if b, err := os.ReadFile(filepath.Join(data, "databases", db, "neostore")); err != nil || string(b) != want {
					t.Errorf("database %s after the restore: %q, %v; want %q", db, b, err, want)
				}
			}
			for _, f := range tt.state {
				_, err := os.Stat(filepath.Join(data, "cluster-state", f))
				if left := slices.Contains(tt.stateLeft, f); left != (err == nil) {
					t.Errorf("cluster state %s there after the restore: %v, want %v", f, err == nil, left)
				}
			}
			m, err := ReadMarker(filepath.Join(data, ".neo4j-backup", "restored"))
			if err != nil || m == nil || m.Role != tt.role || len(m.Steps) != len(tt.want) {
				t.Fatalf("marker = %+v, %v; want role %s and %d steps", m, err, tt.role, len(tt.want))
			}
			for i, s := range m.Steps {
				if s != got[i+1] {
					t.Errorf("marker step %d = %s, want %s", i, s, got[i+1])
				}
			}
			if !strings.Contains(out, "step 1 of ") || !strings.Contains(out, string(tt.role)) {
				t.Errorf("the log does not show the role and the steps:\n%s", out)
			}
		})
	}
}

// A user database cannot be brought into a 5.x cluster offline: the
// restore is refused before neo4j-admin changes anything, with one line
// that says what to do.
func TestRestoreRefusesUserDatabasesOnA5ClusterServer(t *testing.T) {
	for _, databases := range [][]string{nil, {"neo4j"}} {
		data, log := useStandin(t, "5.26.0")
		t.Setenv("NEO4J_dbms_cluster_discovery_endpoints", "server-1:6000,server-2:6000,server-3:6000")
		testfiles.Write(t, filepath.Join(data, "databases", "neo4j", "neostore"), "old store")
		testfiles.Write(t, filepath.Join(data, "cluster-state", "db", "system", "raft-log"), "state")
		stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
		os.Remove(log)
		out, err := runRestoreAs(t, "", stageDir, data, databases...)
		wantFailure(t, err, data, `restoring database neo4j into a Neo4j 5.26.0 cluster needs seeding once the cluster runs, which neo4j-backup does not do yet (README "Restore a cluster"): set neo4j-backup.io/restore-databases: system`)
		if out != "" {
			t.Errorf("the refusal printed before it:\n%s", out)
		}
		if calls, _ := os.ReadFile(log); strings.TrimSpace(string(calls)) != "neo4j-admin --version" {
			t.Errorf("neo4j-admin was called\n%s\nwant only --version", calls)
		}
		if b, _ := os.ReadFile(filepath.Join(data, "databases", "neo4j", "neostore")); string(b) != "old store" {
			t.Errorf("database neo4j after the refusal: %q", b)
		}
		if _, err := os.Stat(filepath.Join(data, "cluster-state", "db", "system", "raft-log")); err != nil {
			t.Errorf("the cluster state went: %v", err)
		}
	}
}

// Restoring a user database without system onto a standalone server warns
// that a database system does not know is not served until it is created.
func TestRestoreWarnsOfADatabaseSystemMayNotKnow(t *testing.T) {
	data, _ := useStandin(t, "5.26.0")
	stageDir := stage(t, "neo4j-admin database backup --to-path=DIR neo4j system")
	out, err := runRestore(t, stageDir, data, "neo4j")
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if !strings.Contains(out, "warning: restoring neo4j without system") || !strings.Contains(out, "CREATE DATABASE neo4j") {
		t.Errorf("no warning of CREATE DATABASE in the log:\n%s", out)
	}
	out, err = runRestore(t, stage(t, "neo4j-admin database backup --to-path=DIR neo4j system"), data)
	if err != nil || strings.Contains(out, "warning") {
		t.Errorf("restoring system too: %v, log\n%s\nwant no warning", err, out)
	}
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
			wantAdminCalls(t, log, stageDir, tt.want)
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

// The procedure of every version line and role, as the Operations Manual
// documents it (README "Restore a cluster"), decided without running
// anything.
func TestProcedure(t *testing.T) {
	plan := &Plan{From: "s3://b/p/ns/graph", BackupID: "2021-11-11T10:00:00Z"}
	const (
		unbind4     = "neo4j-admin unbind"
		unbindSys   = "neo4j-admin dbms unbind-system-db --expand-commands"
		restore4Sys = "neo4j-admin restore --from=B/system --database=system --force"
		restore4    = "neo4j-admin restore --from=B/neo4j --database=neo4j --force"
		restore5Sys = "neo4j-admin database restore --from-path=B/system-2021-11-11T10-00-00.backup --overwrite-destination=true system --expand-commands"
		restore5    = "neo4j-admin database restore --from-path=B/neo4j-2021-11-11T10-00-00.backup --overwrite-destination=true neo4j --expand-commands"
		noSystem    = "restoring neo4j without system: a database this server's system database does not know is restored but not served until you run CREATE DATABASE neo4j"
		refused     = "restoring database neo4j into a Neo4j %s cluster needs seeding once the cluster runs, which neo4j-backup does not do yet (README \"Restore a cluster\"): set neo4j-backup.io/restore-databases: system to restore system on every server, then seed neo4j from its backup in s3://b/p/ns/graph/2021-11-11T10:00:00Z/ with %s"
		recreate    = "CALL dbms.cluster.recreateDatabase"
	)
	all, user, system := []string{"system", "neo4j"}, []string{"neo4j"}, []string{"system"}
	x := func(s string) string { return s + " --expand-commands" }
	for _, tt := range []struct {
		version string
		role    neo4j.Role
		dbs     []string
		want    []string
		warning string // in part
		err     string
	}{
		// 4.2 documents --expand-commands for neither restore nor unbind.
		{"4.2.8", neo4j.Standalone, all, []string{restore4Sys, restore4}, "", ""},
		{"4.2.8", neo4j.Standalone, user, []string{restore4}, noSystem, ""},
		{"4.2.8", neo4j.Standalone, system, []string{restore4Sys}, "", ""},
		{"4.2.8", neo4j.Core, all, []string{unbind4, restore4Sys, restore4}, "", ""},
		{"4.2.8", neo4j.Core, user, []string{unbind4, restore4}, noSystem, ""},
		{"4.2.8", neo4j.ReadReplica, all, []string{unbind4, restore4Sys, restore4}, "", ""},
		{"4.2.8", neo4j.ReadReplica, system, []string{unbind4, restore4Sys}, "", ""},
		{"4.4.31", neo4j.Standalone, all, []string{x(restore4Sys), x(restore4)}, "", ""},
		{"4.4.31", neo4j.Standalone, user, []string{x(restore4)}, noSystem, ""},
		{"4.4.31", neo4j.Core, all, []string{x(unbind4), x(restore4Sys), x(restore4)}, "", ""},
		{"4.4.31", neo4j.Core, system, []string{x(unbind4), x(restore4Sys)}, "", ""},
		{"4.4.31", neo4j.ReadReplica, all, []string{x(unbind4), x(restore4Sys), x(restore4)}, "", ""},
		{"4.4.31", neo4j.ReadReplica, user, []string{x(unbind4), x(restore4)}, noSystem, ""},
		{"4.4.31", neo4j.Server, all, nil, "", "a server is no member of a Neo4j 4.4.31 deployment"},
		{"5.26.0", neo4j.Standalone, all, []string{restore5Sys, restore5}, "", ""},
		{"5.26.0", neo4j.Standalone, user, []string{restore5}, noSystem, ""},
		{"5.26.0", neo4j.Standalone, system, []string{restore5Sys}, "", ""},
		{"5.26.0", neo4j.Server, system, []string{unbindSys, restore5Sys}, "", ""},
		{"5.26.0", neo4j.Server, all, nil, "", fmt.Sprintf(refused, "5.26.0", recreate)},
		{"5.26.0", neo4j.Server, user, nil, "", fmt.Sprintf(refused, "5.26.0", recreate)},
		{"5.26.0", neo4j.Core, all, nil, "", "a core is no member of a Neo4j 5.26.0 deployment"},
		{"5.3.0", neo4j.Server, user, nil, "", fmt.Sprintf(refused, "5.3.0", "DROP DATABASE and CREATE DATABASE … OPTIONS {seedURI: …}")},
		{"5.3.0", neo4j.Server, system, []string{unbindSys, restore5Sys}, "", ""},
		{"2025.06.0", neo4j.Standalone, all, []string{restore5Sys, restore5}, "", ""},
		{"2025.06.0", neo4j.Standalone, user, []string{restore5}, noSystem, ""},
		{"2025.06.0", neo4j.Server, system, []string{unbindSys, restore5Sys}, "", ""},
		{"2025.06.0", neo4j.Server, all, nil, "", fmt.Sprintf(refused, "2025.06.0", recreate)},
	} {
		name := fmt.Sprintf("%s %s %v", tt.version, tt.role, tt.dbs)
		v, err := neo4j.ParseVersion(tt.version)
		if err != nil {
			t.Fatal(err)
		}
		var backups []databaseBackup
		for _, db := range tt.dbs {
			p := "B/" + db
			if v.Major != 4 {
				p += "-2021-11-11T10-00-00.backup"
			}
			backups = append(backups, databaseBackup{db, p})
		}
		got, err := procedure(v, tt.role, plan, backups, true)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: procedure = %v, %v; want an error saying %q", name, got.steps, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var calls []string
		for _, s := range got.steps {
			calls = append(calls, strings.Join(s.args, " "))
		}
		if !slices.Equal(calls, tt.want) {
			t.Errorf("%s: steps\n  %s\nwant\n  %s", name, strings.Join(calls, "\n  "), strings.Join(tt.want, "\n  "))
		}
		warnings := strings.Join(got.warnings, "\n")
		if (tt.warning == "") != (warnings == "") || !strings.Contains(warnings, tt.warning) {
			t.Errorf("%s: warnings %q, want %q", name, warnings, tt.warning)
		}
	}
	// Without command expansion in the configuration, no call asks for it.
	got, err := procedure(neo4j.Version{Major: 5, Minor: 26}, neo4j.Server, plan, []databaseBackup{{"system", "B/system.backup"}}, false)
	if err != nil || strings.Contains(fmt.Sprint(got.steps), "--expand-commands") {
		t.Errorf("procedure without expansion = %v, %v", got.steps, err)
	}
}

// wantAdminCalls checks the stand-in's log: neo4j-admin --version, then
// the calls of want in order, each a glob in which STAGE stands for the
// stage folder. It returns the calls, --version first.
func wantAdminCalls(t *testing.T, log, stageDir string, want []string) []string {
	t.Helper()
	calls, _ := os.ReadFile(log)
	got := strings.Split(strings.TrimSpace(string(calls)), "\n")
	want = append([]string{"neo4j-admin --version"}, want...)
	if len(got) != len(want) {
		t.Fatalf("neo4j-admin was called\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		pattern := strings.ReplaceAll(want[i], "STAGE", stageDir)
		if ok, _ := filepath.Match(pattern, got[i]); !ok {
			t.Errorf("call %d = %s\nwant      %s", i, got[i], pattern)
		}
	}
	return got
}
