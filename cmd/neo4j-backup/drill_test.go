package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// The drill's steps are for its pod only: out of the help and the
// suggestions, but there with --help.
func TestDrillIsHidden(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"__complete", ""}} {
		if _, stdout, _ := cliRun(t, args...); strings.Contains(stdout, "\n  drill ") || strings.Contains(stdout, "\ndrill\t") {
			t.Errorf("%s shows drill:\n%s", strings.Join(args, " "), stdout)
		}
	}
	if code, stdout, _ := cliRun(t, "drill", "report", "--help"); code != 0 || !strings.Contains(stdout, "--termination-log string") {
		t.Errorf("drill report --help = %d:\n%s", code, stdout)
	}
}

// A drill fetch that finds no backup does not fail its container: it notes
// why for the report, which fails the drill saying so in its outcome and
// exits 1; a drill whose restores and checks all exited 0 passes and is
// recorded beside the manifest.
func TestDrillFetchAndReport(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	dest := "s3://" + srv.Bucket + "/drill-cli/graph"

	dir := t.TempDir()
	if code, _, stderr := cli(t, "drill", "fetch", "--from", dest, "--to", dir, "--neo4j-version", "5.26.0"); code != 0 || !strings.Contains(stderr, "the drill fails") {
		t.Fatalf("drill fetch with no backup = %d, %q; want 0, saying the drill fails", code, stderr)
	}
	outcome := runReport(t, dest, dir, 1)
	if outcome.Passed || outcome.BackupID != "" || !strings.Contains(outcome.Error, "the backup could not be fetched") {
		t.Errorf("outcome %+v; want a failure at the fetch", outcome)
	}

	src := t.TempDir()
	testfiles.WriteAll(t, src, map[string]string{"neo4j-2021-11-11T10-00-00.backup": "graph", "system-2021-11-11T10-00-00.backup": "system"})
	const id = "2021-11-11T10:00:00Z"
	if code, _, stderr := cli(t, "upload", "--from", src, "--to", dest, "--id", id); code != 0 {
		t.Fatalf("upload = %d: %s", code, stderr)
	}
	dir = t.TempDir()
	if code, _, stderr := cli(t, "drill", "fetch", "--from", dest, "--to", dir, "--neo4j-version", "5.26.0"); code != 0 || strings.Contains(stderr, "fails") {
		t.Fatalf("drill fetch = %d, %q", code, stderr)
	}
	for _, db := range []string{"neo4j", "system"} {
		list, err := os.ReadFile(filepath.Join(dir, "stage", db+".from-path"))
		if want := filepath.Join(dir, "stage", db, db+"-2021-11-11T10-00-00.backup"); err != nil || string(list) != want {
			t.Errorf("%s.from-path = %q (%v); want %q", db, list, err, want)
		}
	}
	// What the Neo4j step leaves when every call succeeded.
	testfiles.WriteAll(t, dir, map[string]string{
		"restore.exit": "0 neo4j\n0 system\n", "check.exit": "0 neo4j\n0 system\n",
		"neo4j/data/databases/neo4j/x": "", "neo4j/data/databases/system/x": "",
	})
	outcome = runReport(t, dest, dir, 0)
	if !outcome.Passed || outcome.BackupID != id || strings.Join(outcome.Databases, ",") != "neo4j,system" {
		t.Errorf("outcome %+v; want backup %s passed", outcome, id)
	}
	if code, stdout, _ := cli(t, "verify", "--from", dest, "--at", id); code != 0 || !strings.Contains(stdout, "2 files") {
		t.Errorf("verify with a drill result beside the manifest = %d, %q; want the backup's 2 files to match", code, stdout)
	}
}

func runReport(t *testing.T, dest, dir string, wantCode int) backup.DrillOutcome {
	t.Helper()
	log := filepath.Join(t.TempDir(), "termination-log")
	code, _, stderr := cli(t, "drill", "report", "--from", dest, "--dir", dir, "--databases", "neo4j,system", "--neo4j-version", "5.26.0", "--termination-log", log)
	if code != wantCode {
		t.Fatalf("drill report = %d, %q; want %d", code, stderr, wantCode)
	}
	var o backup.DrillOutcome
	b, err := os.ReadFile(log)
	if err != nil || json.Unmarshal(b, &o) != nil {
		t.Fatalf("termination log %q (%v)", b, err)
	}
	return o
}
