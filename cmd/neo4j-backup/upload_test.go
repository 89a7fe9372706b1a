package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// neo4jAdminBackup does what the backup CronJob's init container does: it
// runs every neo4j-admin call of the version line (neo4j.BackupCommands,
// with a page cache as the CronJob sizes it) with the stand-in, playing a server holding neo4j and system with the
// faults in env, appends "<exit code> <databases>" per call to the exit
// file, and returns the backup folder and the exit file.
func neo4jAdminBackup(t *testing.T, version string, from, databases []string, env map[string]string) (dir, exitFile string) {
	t.Helper()
	v, err := neo4j.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	live := filepath.Join(tmp, "live")
	testfiles.WriteAll(t, live, map[string]string{"neo4j/neostore": "store of neo4j", "neo4j/neostore.nodestore.db": "nodes", "system/neostore": "store of system"})
	dir, exitFile = filepath.Join(tmp, "backup", "databases"), filepath.Join(tmp, "backup", "neo4j-admin.exit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for _, call := range neo4j.BackupCommands(v, from, dir, databases, "512m") {
		argv := call.Args
		cmd := exec.Command(filepath.Join(testcluster.Standin(t), "neo4j-admin"), argv[1:]...)
		cmd.Env = append(os.Environ(), "NEO4J_STANDIN_VERSION="+version, "NEO4J_STANDIN_LIVE="+live)
		for k, val := range env {
			cmd.Env = append(cmd.Env, k+"="+val)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("running the stand-in: %v", err)
		}
		if code == 2 && env["NEO4J_STANDIN_CHECK_EXIT"] == "" { // else 4.x's "consistency check failed"
			t.Fatalf("the stand-in refused %s as Neo4j %s would: %s", strings.Join(argv, " "), version, out)
		}
		fmt.Fprintf(&lines, "%d %s\n", code, strings.Join(call.Databases, ","))
	}
	if err := os.WriteFile(exitFile, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, exitFile
}

// listBackups is `list -o json`.
func listBackups(t *testing.T, dest string) []listedBackup {
	t.Helper()
	code, stdout, stderr := cli(t, "list", "--from", dest, "-o", "json")
	var listed []listedBackup
	if err := json.Unmarshal([]byte(stdout), &listed); code != 0 || err != nil {
		t.Fatalf("list = %d, %v: %s %s", code, err, stdout, stderr)
	}
	return listed
}

// The upload container checks what neo4j-admin left before it uploads
// anything: a refused backup leaves no object in the store, so nothing
// looks complete and latest never moves to it.
func TestUploadChecksTheBackup(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	tests := []struct {
		name, version string
		from          []string
		databases     []string
		env           map[string]string // the stand-in's faults
		noExitFile    bool
		code          int
		say           string   // the refusal's one line, or a warning
		recorded      []string // the databases of the uploaded backup
	}{
		{name: "5.x: every artifact, exit 0", version: "5.26.0", databases: []string{"neo4j", "system"},
			recorded: []string{"neo4j", "system"}},
		{name: "a requested database without its artifact, no exit file", version: "5.26.0", databases: []string{"neo4j", "system"},
			env: map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "neo4j"}, noExitFile: true,
			code: 1, say: "has no backup artifact of database neo4j (neo4j-<yyyy-MM-ddTHH-mm-ss>.backup)"},
		{name: "calendar: exit 0 but an artifact missing (neo4j/neo4j#13107)", version: "2025.06.0", databases: []string{"neo4j", "system"},
			env:  map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "neo4j"},
			code: 1, say: "neo4j-admin database backup of databases neo4j, system exited 0 but left no backup artifact of database neo4j"},
		{name: "4.x: exit 0 but a folder missing", version: "4.4.40", databases: []string{"neo4j", "system"},
			env:  map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "system"},
			code: 1, say: "neo4j-admin backup of database system exited 0 but left no backup of database system"},
		{name: "4.x: consistency check failed (exit 2): uploaded with a warning", version: "4.4.40", databases: []string{"neo4j", "system"},
			env: map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "2=neo4j"},
			say: "neo4j-admin backup of database neo4j succeeded but its consistency check failed to run (exit 2)", recorded: []string{"neo4j", "system"}},
		{name: "4.x: inconsistencies found (exit 3): uploaded with a warning", version: "4.2.8", databases: []string{"neo4j"},
			env: map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "3"},
			say: "neo4j-admin backup of database neo4j succeeded but its consistency check found inconsistencies (exit 3)", recorded: []string{"neo4j"}},
		{name: "4.x: the server does not answer (exit 1)", version: "4.4.40", from: []string{"core-0:6362"}, databases: []string{"neo4j"},
			env:  map[string]string{"NEO4J_STANDIN_HOSTS": "core-1:6362=neo4j,system"},
			code: 1, say: "neo4j-admin backup of database neo4j failed (exit 1)"},
		{name: "5.x: exit 1, every artifact: uploaded with a warning", version: "5.26.0", from: []string{"core-0:6362", "core-1:6362"}, databases: []string{"neo4j", "system"},
			env: map[string]string{"NEO4J_STANDIN_HOSTS": "core-1:6362=neo4j,system"},
			say: "exited 1 although every artifact was written: neo4j-admin reported problems, e.g. some servers uncontactable", recorded: []string{"neo4j", "system"}},
		{name: "5.x: exit 1, an artifact missing", version: "5.26.0", from: []string{"core-0:6362", "core-1:6362"}, databases: []string{"neo4j", "system"},
			env:  map[string]string{"NEO4J_STANDIN_HOSTS": "core-0:6362=system"},
			code: 1, say: "neo4j-admin database backup of databases neo4j, system failed (exit 1) and left no backup artifact of database neo4j"},
		{name: "5.15: exit 1 of one call, its artifact missing", version: "5.15.0", from: []string{"core-0:6362"}, databases: []string{"neo4j", "system"},
			env:  map[string]string{"NEO4J_STANDIN_HOSTS": "core-0:6362=system"},
			code: 1, say: "neo4j-admin database backup of database neo4j failed (exit 1) and left no backup artifact of database neo4j"},
		{name: "mixed case: Neo4j is neo4j", version: "5.26.0", databases: []string{"Neo4j"},
			recorded: []string{"neo4j"}},
		{name: "mixed case, 4.x", version: "4.4.40", databases: []string{"NEO4J", "System"},
			recorded: []string{"neo4j", "system"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from
			if from == nil {
				from = []string{"core-0:6362"}
			}
			dir, exitFile := neo4jAdminBackup(t, tt.version, from, tt.databases, tt.env)
			dest := fmt.Sprintf("s3://%s/check-%d/graph", srv.Bucket, i)
			id := "2021-11-11T10:00:00Z"
			args := []string{"upload", "--from", dir, "--to", dest, "--id", id, "--databases", strings.Join(tt.databases, ","), "--neo4j-version", tt.version}
			if !tt.noExitFile {
				args = append(args, "--neo4j-admin-exit", exitFile)
			}
			terminationLog := filepath.Join(t.TempDir(), "termination-log")
			args = append(args, "--termination-log", terminationLog)
			code, stdout, stderr := cli(t, args...)
			if code != tt.code {
				t.Fatalf("upload = %d, %q, %q; want exit %d", code, stdout, stderr, tt.code)
			}
			message, err := os.ReadFile(terminationLog)
			if err != nil {
				t.Fatalf("no termination message: %v", err)
			}
			var outcome map[string]any
			if err := json.Unmarshal(message, &outcome); err != nil {
				t.Fatalf("termination message %q: %v", message, err)
			}
			listed := listBackups(t, dest)
			if tt.code != 0 {
				if errMsg, _ := outcome["error"].(string); len(outcome) != 2 || outcome["backupId"] != id || !strings.Contains(errMsg, tt.say) {
					t.Errorf("termination message %s; want backupId %s and an error saying %q", message, id, tt.say)
				}
				if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "backup "+id+" was not uploaded: ") || !strings.Contains(stderr, tt.say) {
					t.Errorf("refusal: stdout %q, stderr %q; want one line saying %q", stdout, stderr, tt.say)
				}
				if len(listed) != 0 {
					t.Errorf("after a refused upload the store lists %+v; want nothing", listed)
				}
				for obj := range srv.Client().ListObjects(t.Context(), srv.Bucket, minio.ListObjectsOptions{Prefix: fmt.Sprintf("check-%d/", i), Recursive: true}) {
					t.Errorf("a refused upload left %s (%v) in the store", obj.Key, obj.Err)
				}
				return
			}
			if stdout != id+"\n" {
				t.Errorf("upload printed %q on stdout; want the backup ID alone", stdout)
			}
			if len(listed) != 1 || listed[0].ID != id || listed[0].Status != storage.Complete || !slices.Equal(listed[0].Databases, tt.recorded) {
				t.Fatalf("the store lists %+v; want backup %s complete with databases %v", listed, id, tt.recorded)
			}
			var got struct {
				BackupID  string   `json:"backupId"`
				Databases []string `json:"databases"`
				Size      int64    `json:"size"`
				Warnings  []string `json:"warnings"`
			}
			_ = json.Unmarshal(message, &got)
			if _, ok := outcome["warnings"]; len(outcome) != 5 || !ok || outcome["type"] != "full" || got.BackupID != id || !slices.Equal(got.Databases, tt.recorded) ||
				got.Size <= 0 || !slices.Equal(got.Warnings, listed[0].Warnings) {
				t.Errorf("termination message %s; want backupId %s, databases %v, its size and warnings %q", message, id, tt.recorded, listed[0].Warnings)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if tt.say == "" {
				if len(listed[0].Warnings) != 0 || strings.Contains(stderr, "warning") {
					t.Errorf("warnings %q, stderr %q; want none", listed[0].Warnings, stderr)
				}
				return
			}
			if len(listed[0].Warnings) != 1 || !strings.Contains(listed[0].Warnings[0], tt.say) {
				t.Errorf("the manifest records warnings %q; want one saying %q", listed[0].Warnings, tt.say)
			}
			if !strings.Contains(stderr, "warning: ") || !strings.HasPrefix(last, "backup "+id+" uploaded with 1 warning: ") || !strings.Contains(last, tt.say) {
				t.Errorf("stderr %q; want the warning, and last a line saying backup %s was uploaded with it", stderr, id)
			}
		})
	}
}

// A refused upload prunes nothing: retention never moves because of it.
func TestRefusedUploadPrunesNothing(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	dest := "s3://" + srv.Bucket + "/refused/graph"
	good, goodExit := neo4jAdminBackup(t, "5.26.0", []string{"core-0:6362"}, []string{"neo4j", "system"}, nil)
	for _, id := range []string{"2021-11-10T10:00:00Z", "2021-11-11T10:00:00Z"} {
		if code, _, stderr := cli(t, "upload", "--from", good, "--to", dest, "--id", id, "--databases", "neo4j,system", "--neo4j-version", "5.26.0", "--neo4j-admin-exit", goodExit); code != 0 {
			t.Fatalf("upload of %s: %s", id, stderr)
		}
	}
	bad, badExit := neo4jAdminBackup(t, "5.26.0", []string{"core-0:6362"}, []string{"neo4j", "system"}, map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "system"})
	code, _, stderr := cli(t, "upload", "--from", bad, "--to", dest, "--id", "2021-11-12T10:00:00Z", "--databases", "neo4j,system",
		"--neo4j-version", "5.26.0", "--neo4j-admin-exit", badExit, "--keep", "1")
	if code != 1 || !strings.Contains(stderr, "left no backup artifact of database system") || strings.Contains(stderr, "pruned") {
		t.Fatalf("refused upload with --keep = %d, %q; want exit 1 naming system, nothing pruned", code, stderr)
	}
	var ids []string
	for _, b := range listBackups(t, dest) {
		ids = append(ids, b.ID+" "+string(b.Status))
	}
	if want := []string{"2021-11-10T10:00:00Z complete", "2021-11-11T10:00:00Z complete"}; !slices.Equal(ids, want) {
		t.Errorf("after a refused upload with --keep 1 the store lists %v; want %v", ids, want)
	}
}

func TestUploadCheckUsage(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	dir, exitFile := neo4jAdminBackup(t, "5.26.0", []string{"core-0:6362"}, []string{"neo4j"}, nil)
	dest := "s3://" + srv.Bucket + "/usage/graph"
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"exit codes without a version", []string{"--databases", "neo4j", "--neo4j-admin-exit", exitFile}, 2, "--neo4j-admin-exit needs --databases and --neo4j-version"},
		{"exit codes without databases", []string{"--neo4j-version", "5.26.0", "--neo4j-admin-exit", exitFile}, 2, "--neo4j-admin-exit needs --databases and --neo4j-version"},
		{"a version that is none", []string{"--neo4j-version", "latest"}, 2, `--neo4j-version: "latest" is not a Neo4j version`},
		{"an exit file that is not there", []string{"--databases", "neo4j", "--neo4j-version", "5.26.0", "--neo4j-admin-exit", exitFile + ".missing"}, 1,
			"neo4j-admin.exit.missing, where neo4j-admin's exit codes are recorded, does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := cli(t, append([]string{"upload", "--from", dir, "--to", dest}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line saying %q", code, stderr, c.code, c.want)
			}
		})
	}
	if listed := listBackups(t, dest); len(listed) != 0 {
		t.Errorf("the store lists %+v; want nothing", listed)
	}
}

// standin runs the stand-in neo4j-admin playing version, backing up the
// live server in folder live; it returns the exit code and the output.
func standin(t *testing.T, version, live string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.Standin(t), "neo4j-admin"), args...)
	cmd.Env = append(os.Environ(), "NEO4J_STANDIN_VERSION="+version, "NEO4J_STANDIN_LIVE="+live)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stdout.String() + stderr.String()
	} else if err != nil {
		t.Fatalf("running the stand-in: %v", err)
	}
	return 0, stdout.String()
}

// commit appends n transactions to the live database folder's log, from
// transaction first on.
func commit(t *testing.T, live, db string, first, n int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(live, db, "transactions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := first; i < first+n; i++ {
		fmt.Fprintf(f, "%d %s CREATE (:N {i: %d})\n", i, time.Now().UTC().Format(time.RFC3339Nano), i)
	}
}

// chainRun is one scheduled run as the backup CronJob makes it on 5.x:
// backup-plan, neo4j-admin of the plan's type into a fresh scratch folder
// (a failed differential falls back as the script does, which
// TestBackupScriptChains checks; here they succeed), --inspect-path, and
// upload with the plan and the table. tamper, if not nil, rewrites the
// table before upload reads it.
type chainRun struct {
	t                            *testing.T
	dest, version, live, scratch string
}

func (r chainRun) run(id string, tamper func(string) string) (plan backupPlan, code int, stderr string) {
	t := r.t
	t.Helper()
	scratch := t.TempDir()
	dir, planFile := filepath.Join(scratch, "databases"), filepath.Join(scratch, "plan")
	if code, stdout, stderr := cli(t, "backup-plan", "--from", r.dest, "--full-every", "1h", "--neo4j-version", r.version,
		"--databases", "neo4j,system", "--to", dir, "--plan", planFile); code != 0 {
		t.Fatalf("backup-plan = %d: %s %s", code, stdout, stderr)
	}
	data, _ := os.ReadFile(planFile)
	if err := json.Unmarshal(data, &plan); err != nil {
		t.Fatalf("the plan %q: %v", data, err)
	}
	v, _ := neo4j.ParseVersion(r.version)
	typ := neo4j.BackupFull
	if plan.differential() {
		typ = neo4j.BackupDiff
	}
	var exits strings.Builder
	for _, call := range neo4j.BackupCommandsOfType(v, typ, []string{"core-0:6362"}, dir, []string{"neo4j", "system"}, "512m") {
		code, out := standin(t, r.version, r.live, call.Args[1:]...)
		if code != 0 {
			t.Fatalf("the stand-in's %s exited %d: %s", strings.Join(call.Args, " "), code, out)
		}
		fmt.Fprintf(&exits, "%d %s\n", code, strings.Join(call.Databases, ","))
	}
	code, inspect := standin(t, r.version, r.live, neo4j.InspectCommand(dir)[1:]...)
	if tamper != nil {
		inspect = tamper(inspect)
	}
	testfiles.WriteAll(t, scratch, map[string]string{"neo4j-admin.exit": exits.String(), "inspect": inspect, "inspect.exit": fmt.Sprintf("%d\n", code)})
	code, _, stderr = cli(t, "upload", "--from", dir, "--to", r.dest, "--id", id, "--databases", "neo4j,system", "--neo4j-version", r.version,
		"--neo4j-admin-exit", filepath.Join(scratch, "neo4j-admin.exit"), "--plan", planFile,
		"--inspect", filepath.Join(scratch, "inspect"), "--inspect-exit", filepath.Join(scratch, "inspect.exit"),
		"--termination-log", filepath.Join(scratch, "termination-log"))
	if code == 0 {
		var outcome backup.Outcome
		data, _ := os.ReadFile(filepath.Join(scratch, "termination-log"))
		if err := json.Unmarshal(data, &outcome); err != nil || outcome.BackupID != id || outcome.Type != plan.Type {
			t.Errorf("upload's outcome %s (%v); want backup %s of type %s", data, err, id, plan.Type)
		}
	}
	return plan, code, stderr
}

// TestUploadChain backs a live server up three times as the CronJob does,
// with transactions committed between: a full backup, then differential
// ones on it, each manifest recording its type, parent and the artifacts'
// contiguous transaction ranges, without the parent's artifacts uploaded
// again; and a differential backup whose table shows a gap in the chain is
// refused and leaves nothing.
func TestUploadChain(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	for _, version := range []string{"5.15.0", "2025.06.0"} {
		t.Run(version, func(t *testing.T) {
			dest := "s3://" + srv.Bucket + "/chain-" + version + "/graph"
			live := filepath.Join(t.TempDir(), "live")
			testfiles.WriteAll(t, live, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system"})
			commit(t, live, "neo4j", 1, 3)
			commit(t, live, "system", 1, 2)
			r := chainRun{t: t, dest: dest, version: version, live: live}
			start := time.Now().Add(-10 * time.Minute)
			ids := []string{storage.NewID(start), storage.NewID(start.Add(time.Minute)), storage.NewID(start.Add(2 * time.Minute)), storage.NewID(start.Add(3 * time.Minute))}

			plan, code, stderr := r.run(ids[0], nil)
			if code != 0 || plan.Type != backup.TypeFull || plan.Reason != "there is no complete backup to build on" {
				t.Fatalf("first run: plan %+v, upload %d %s; want a full backup uploaded", plan, code, stderr)
			}
			commit(t, live, "neo4j", 4, 2)
			if plan, code, stderr = r.run(ids[1], nil); code != 0 || plan.Type != backup.TypeDifferential || plan.Parent != ids[0] {
				t.Fatalf("second run: plan %+v, upload %d %s; want a differential backup on %s", plan, code, stderr, ids[0])
			}
			commit(t, live, "neo4j", 6, 1)
			commit(t, live, "system", 3, 1)
			if plan, code, stderr = r.run(ids[2], nil); code != 0 || plan.Type != backup.TypeDifferential || plan.Parent != ids[1] {
				t.Fatalf("third run: plan %+v, upload %d %s; want a differential backup on %s", plan, code, stderr, ids[1])
			}

			store, err := storage.Open(mustLocation(t, dest), storage.Config{Retries: 1})
			if err != nil {
				t.Fatal(err)
			}
			backups, err := store.List(t.Context())
			if err != nil || len(backups) != 3 {
				t.Fatalf("List = %d backups, %v; want 3", len(backups), err)
			}
			want := []string{
				ids[0] + " full  neo4j 1-3 full, system 1-2 full",
				ids[1] + " differential " + ids[0] + " neo4j 4-5, system 0-0",
				ids[2] + " differential " + ids[1] + " neo4j 6-6, system 3-3",
			}
			for i, b := range backups {
				m := b.Manifest
				var arts []string
				for _, a := range m.Artifacts {
					s := fmt.Sprintf("%s %d-%d", a.Database, a.LowestTx, a.HighestTx)
					if a.Full {
						s += " full"
					}
					arts = append(arts, s)
					if !slices.ContainsFunc(m.Files, func(f storage.ManifestFile) bool { return f.Path == a.Path }) || !strings.HasPrefix(a.Path, a.Database+"-") {
						t.Errorf("backup %s: artifact %s is not one of its files %v", b.ID, a.Path, m.Files)
					}
				}
				if got := fmt.Sprintf("%s %s %s %s", b.ID, m.Type, m.Parent, strings.Join(arts, ", ")); got != want[i] {
					t.Errorf("backup %d:\n got %s\nwant %s", i, got, want[i])
				}
				if len(m.Files) != len(m.Artifacts) {
					t.Errorf("backup %s holds files %v; want its own artifacts only, not its parent's", b.ID, m.Files)
				}
			}

			// A gap: the table says the new artifact starts two transactions on.
			commit(t, live, "neo4j", 7, 1)
			gap := func(table string) string {
				lines := strings.Split(table, "\n")
				for i, line := range lines {
					cells := strings.Split(line, "|") // "", FILE, DATABASE, DATABASE ID, TIME, FULL, COMPRESSED, LOWEST TX, HIGHEST TX, ""
					if len(cells) == 10 && strings.TrimSpace(cells[2]) == "neo4j" && strings.TrimSpace(cells[7]) == "7" {
						cells[7], cells[8] = " 8 ", " 8 "
						lines[i] = strings.Join(cells, "|")
					}
				}
				return strings.Join(lines, "\n")
			}
			plan, code, stderr = r.run(ids[3], gap)
			if code != 1 || !strings.Contains(stderr, "starts at transaction 8, but backup "+ids[2]+"'s chain ends at transaction 6 of database neo4j: the chain would be broken") {
				t.Fatalf("a differential with a gap: upload %d %q (plan %+v); want it refused as a broken chain", code, stderr, plan)
			}
			if backups, _ := store.List(t.Context()); len(backups) != 3 {
				t.Errorf("after the refused upload the store holds %d backups; want 3", len(backups))
			}
		})
	}
}

func mustLocation(t *testing.T, s string) storage.Location {
	t.Helper()
	loc, err := storage.ParseLocation(s)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
