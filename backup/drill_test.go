package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// The drill's steps in a folder standing for its scratch volume: a fetched
// backup staged (StageDrill), the Neo4j container's script run with the
// stand-in neo4j-admin, then judged (JudgeDrill). A good backup passes; a
// database the stand-in finds inconsistent, or one the backup lacks, fails
// the drill by name.
func TestDrillSteps(t *testing.T) {
	for _, tt := range []struct {
		version string
		fetched map[string]string // the backup's files
	}{
		{"4.4.40", map[string]string{"neo4j/neostore": "graph", "system/neostore": "system"}},
		{"5.26.0", nil}, // artifacts the stand-in writes
	} {
		v, _ := neo4j.ParseVersion(tt.version)
		run := func(t *testing.T, databases []string, env ...string) DrillFindings {
			t.Helper()
			scratch := t.TempDir()
			const id = "2021-11-11T10:00:00Z"
			fetched := filepath.Join(scratch, "fetched", id)
			if tt.fetched != nil {
				testfiles.WriteAll(t, fetched, tt.fetched)
			} else {
				live := t.TempDir()
				testfiles.WriteAll(t, live, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system"})
				if err := os.MkdirAll(fetched, 0o755); err != nil {
					t.Fatal(err)
				}
				standin(t, tt.version, "NEO4J_STANDIN_LIVE="+live).run("database", "backup", "--from=graph:6362", "--to-path="+fetched, "neo4j", "system")
			}
			if err := StageDrill(scratch, id, v); err != nil {
				t.Fatal(err)
			}
			script := strings.ReplaceAll(drillScript(v, databases, "512m"), scratchPath, scratch)
			cmd := exec.Command("/bin/sh", "-c", script)
			cmd.Env = append(os.Environ(), "PATH="+testcluster.Standin(t)+":"+os.Getenv("PATH"), "NEO4J_STANDIN_VERSION="+tt.version,
				"NEO4J_CONF="+filepath.Join(scratch, "neo4j", "conf"), "NEO4J_STANDIN_DATA="+filepath.Join(t.TempDir(), "live-data"))
			cmd.Env = append(cmd.Env, env...)
			cmd.Dir = t.TempDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the script failed: %v: %s", err, out)
			}
			f := JudgeDrill(scratch, v, databases)
			if f.BackupID != id {
				t.Errorf("BackupID = %q, want %s", f.BackupID, id)
			}
			return f
		}
		t.Run(tt.version, func(t *testing.T) {
			if f := run(t, []string{"neo4j", "system"}); len(f.Failures) != 0 {
				t.Errorf("a good backup fails the drill: %v", f.Failures)
			}
			f := run(t, []string{"neo4j", "system"}, "NEO4J_STANDIN_INCONSISTENT=neo4j")
			if len(f.Failures) != 1 || !strings.HasPrefix(f.Failures[0], "database neo4j is inconsistent: the consistency check exited 1 and wrote inconsistencies-") {
				t.Errorf("failures %q; want neo4j inconsistent, with its report", f.Failures)
			}
			f = run(t, []string{"neo4j", "movies"})
			if len(f.Failures) != 1 || !strings.HasPrefix(f.Failures[0], "database movies was not restored: neo4j-admin exited") {
				t.Errorf("failures %q; want movies not restored", f.Failures)
			}
		})
	}
}

// standinCall runs the stand-in neo4j-admin.
type standinCall struct {
	t   *testing.T
	env []string
}

func standin(t *testing.T, version string, env ...string) standinCall {
	return standinCall{t: t, env: append([]string{"NEO4J_STANDIN_VERSION=" + version}, env...)}
}

func (s standinCall) run(args ...string) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.Standin(s.t), "neo4j-admin"), args...)
	cmd.Env = append(os.Environ(), s.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("neo4j-admin %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// What JudgeDrill makes of the files when a step did not get as far.
func TestJudgeDrillWithoutTheNeo4jStep(t *testing.T) {
	v := neo4j.Version{Major: 5, Minor: 26}
	dir := t.TempDir()
	testfiles.WriteAll(t, dir, map[string]string{"fetch.error": "backup latest: no complete backup in s3://b/x\n"})
	if f := JudgeDrill(dir, v, []string{"neo4j"}); len(f.Failures) != 1 || f.Failures[0] != "the backup could not be fetched: backup latest: no complete backup in s3://b/x" {
		t.Errorf("failures %q; want the fetch's", f.Failures)
	}
	dir = t.TempDir()
	testfiles.WriteAll(t, dir, map[string]string{"backup-id": "2021-11-11T10:00:00Z\n"})
	if f := JudgeDrill(dir, v, []string{"neo4j"}); len(f.Failures) != 1 || !strings.Contains(f.Failures[0], "restore.exit is missing") {
		t.Errorf("failures %q; want the missing exit codes", f.Failures)
	}
	// Exit 0 and no store: neo4j-admin's word is not enough (neo4j/neo4j#13107).
	testfiles.WriteAll(t, dir, map[string]string{"restore.exit": "0 neo4j\n", "check.exit": "0 neo4j\n"})
	if f := JudgeDrill(dir, v, []string{"neo4j"}); len(f.Failures) != 1 || !strings.Contains(f.Failures[0], "database neo4j was not restored: neo4j-admin exited 0 but left no store") {
		t.Errorf("failures %q; want neo4j not restored", f.Failures)
	}
}

// The drill's name follows the backup's rule, within the name limit.
func TestDrillCronJobName(t *testing.T) {
	long := strings.Repeat("a", 40)
	for _, d := range []string{"graph", long, "Graph.prod"} {
		got := drillCronJobName(d)
		if len(got) > maxCronJobName || !strings.HasPrefix(got, DrillNamePrefix) {
			t.Errorf("drillCronJobName(%q) = %q: over %d characters or not %s…", d, got, maxCronJobName, DrillNamePrefix)
		}
	}
	if drillCronJobName("graph") != "neo4j-backup-verify-graph" || drillCronJobName(long) == drillCronJobName(long+"a") {
		t.Errorf("drill names: %s, %s, %s", drillCronJobName("graph"), drillCronJobName(long), drillCronJobName(long+"a"))
	}
}
