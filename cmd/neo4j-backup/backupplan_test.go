package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// planBackup is a backup of a test's location: "<id> full|diff:<parent>
// [version] [db:low-high…]", complete unless the first word is "incomplete".
func planBackups(t *testing.T, lines ...string) []storage.Backup {
	t.Helper()
	var out []storage.Backup
	for _, line := range lines {
		f := strings.Fields(line)
		incomplete := f[0] == "incomplete"
		if incomplete {
			f = f[1:]
		}
		at, err := storage.ParseID(f[0])
		if err != nil {
			t.Fatal(err)
		}
		m := &storage.Manifest{BackupID: f[0], Type: storage.TypeFull, Neo4jVersion: "5.26.0"}
		if parent, ok := strings.CutPrefix(f[1], "diff:"); ok {
			m.Type, m.Parent = storage.TypeDifferential, parent
		}
		for _, w := range f[2:] {
			if strings.HasPrefix(w, "v") {
				m.Neo4jVersion = strings.TrimPrefix(w, "v")
				continue
			}
			db, span, _ := strings.Cut(w, ":")
			low, high, _ := strings.Cut(span, "-")
			a := storage.Artifact{Database: db, Path: db + "-" + strings.ReplaceAll(strings.TrimSuffix(f[0], "Z"), ":", "-") + ".backup", Full: m.Type == storage.TypeFull, Time: at}
			a.LowestTx, a.HighestTx = atoi(t, low), atoi(t, high)
			m.Artifacts = append(m.Artifacts, a)
			m.Files = append(m.Files, storage.ManifestFile{Path: a.Path})
			m.Databases = append(m.Databases, db)
		}
		b := storage.Backup{ID: f[0], Time: at, Status: storage.Complete, Manifest: m}
		if incomplete {
			b.Status, b.Manifest = storage.Incomplete, nil
		}
		out = append(out, b)
	}
	return out
}

func atoi(t *testing.T, s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestDecidePlan is the plan's decision, fixture in, decision out.
func TestDecidePlan(t *testing.T) {
	now, _ := storage.ParseID("2021-11-11T12:30:00Z")
	v5, _ := neo4j.ParseVersion("5.26.0")
	dbs := []string{"neo4j", "system"}
	chain := []string{
		"2021-11-11T10:00:00Z full neo4j:1-10 system:1-4",
		"2021-11-11T11:00:00Z diff:2021-11-11T10:00:00Z neo4j:11-15 system:0-0",
		"2021-11-11T12:00:00Z diff:2021-11-11T11:00:00Z neo4j:16-16 system:0-0",
	}
	for _, tt := range []struct {
		name      string
		backups   []string
		fullEvery string
		version   string
		databases []string
		want      backupPlan
		fetch     string // "<backup>:<file>,…"
	}{
		{name: "fresh chain: a differential on the newest, the newest non-empty artifact of each database fetched",
			backups: chain, fullEvery: "1d",
			want:  backupPlan{Type: backup.TypeDifferential, Parent: "2021-11-11T12:00:00Z", Fetched: []string{"neo4j-2021-11-11T12-00-00.backup", "system-2021-11-11T10-00-00.backup"}},
			fetch: "2021-11-11T12:00:00Z:neo4j-2021-11-11T12-00-00.backup 2021-11-11T10:00:00Z:system-2021-11-11T10-00-00.backup"},
		{name: "an incomplete newer backup is not built on",
			backups: append(append([]string{}, chain...), "incomplete 2021-11-11T12:15:00Z full"), fullEvery: "1d",
			want:  backupPlan{Type: backup.TypeDifferential, Parent: "2021-11-11T12:00:00Z", Fetched: []string{"neo4j-2021-11-11T12-00-00.backup", "system-2021-11-11T10-00-00.backup"}},
			fetch: "2021-11-11T12:00:00Z:neo4j-2021-11-11T12-00-00.backup 2021-11-11T10:00:00Z:system-2021-11-11T10-00-00.backup"},
		{name: "the full backup older than full-every",
			backups: chain, fullEvery: "1h",
			want: backupPlan{Type: backup.TypeFull, Reason: "the chain's full backup is older than 1h (backup 2021-11-11T10:00:00Z)"}},
		{name: "the full backup exactly full-every old",
			backups: chain, fullEvery: "2h30m",
			want: backupPlan{Type: backup.TypeFull, Reason: "the chain's full backup is older than 2h30m (backup 2021-11-11T10:00:00Z)"}},
		{name: "nothing to build on",
			backups: []string{"incomplete 2021-11-11T12:00:00Z full"}, fullEvery: "1d",
			want: backupPlan{Type: backup.TypeFull, Reason: "there is no complete backup to build on"}},
		{name: "the parent's parent is missing",
			backups: chain[1:], fullEvery: "1d",
			want: backupPlan{Type: backup.TypeFull, Problem: true, Reason: "the newest complete backup, 2021-11-11T12:00:00Z, cannot be built on: backup 2021-11-11T11:00:00Z builds on backup 2021-11-11T10:00:00Z, which is missing or incomplete"}},
		{name: "the chain's full backup is incomplete",
			backups: append([]string{"incomplete 2021-11-11T10:00:00Z full"}, chain[1:]...), fullEvery: "1d",
			want: backupPlan{Type: backup.TypeFull, Problem: true, Reason: "the newest complete backup, 2021-11-11T12:00:00Z, cannot be built on: backup 2021-11-11T11:00:00Z builds on backup 2021-11-11T10:00:00Z, which is missing or incomplete"}},
		{name: "another Neo4j version",
			backups: chain, fullEvery: "1d", version: "2025.06.0",
			want: backupPlan{Type: backup.TypeFull, Reason: "backup 2021-11-11T12:00:00Z was taken by Neo4j 5.26.0 and this is Neo4j 2025.06.0: a new chain starts"}},
		{name: "another minor version",
			backups: chain, fullEvery: "1d", version: "5.27.0",
			want: backupPlan{Type: backup.TypeFull, Reason: "backup 2021-11-11T12:00:00Z was taken by Neo4j 5.26.0 and this is Neo4j 5.27.0: a new chain starts"}},
		{name: "another patch release builds on the chain",
			backups: []string{"2021-11-11T12:00:00Z full v5.26.3 neo4j:1-3 system:1-1"}, fullEvery: "1d", version: "5.26.4",
			want:  backupPlan{Type: backup.TypeDifferential, Parent: "2021-11-11T12:00:00Z", Fetched: []string{"neo4j-2021-11-11T12-00-00.backup", "system-2021-11-11T12-00-00.backup"}},
			fetch: "2021-11-11T12:00:00Z:neo4j-2021-11-11T12-00-00.backup,system-2021-11-11T12-00-00.backup"},
		{name: "a database the newest backup does not hold",
			backups: chain, fullEvery: "1d", databases: []string{"neo4j", "system", "movies"},
			want: backupPlan{Type: backup.TypeFull, Reason: "backup 2021-11-11T12:00:00Z holds no artifact of database movies"}},
		{name: "a backup without recorded artifacts (by hand, or before chains)",
			backups: []string{"2021-11-11T12:00:00Z full"}, fullEvery: "1d",
			want: backupPlan{Type: backup.TypeFull, Reason: "backup 2021-11-11T12:00:00Z records no backup artifacts to build on (it was uploaded by hand or by an earlier neo4j-backup)"}},
		{name: "a backup without a Neo4j version",
			backups: []string{"2021-11-11T12:00:00Z full v neo4j:1-2"}, fullEvery: "1d",
			want: backupPlan{Type: backup.TypeFull, Reason: "backup 2021-11-11T12:00:00Z records no Neo4j version to build on"}},
		{name: "4.x",
			backups: chain, fullEvery: "1d", version: "4.4.40",
			want: backupPlan{Type: backup.TypeFull, Reason: "Neo4j 4.4.40 takes full backups only"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := v5
			if tt.version != "" {
				v, _ = neo4j.ParseVersion(tt.version)
			}
			databases := dbs
			if tt.databases != nil {
				databases = tt.databases
			}
			got, fetch := decidePlan(planBackups(t, tt.backups...), now, tt.fullEvery, v, databases)
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("plan\n got %s\nwant %s", gotJSON, wantJSON)
			}
			var fetched []string
			for _, f := range fetch {
				fetched = append(fetched, f.backup.ID+":"+strings.Join(f.paths, ","))
			}
			if g := strings.Join(fetched, " "); g != tt.fetch {
				t.Errorf("fetches %q, want %q", g, tt.fetch)
			}
		})
	}
}

// TestBackupPlanCommand runs backup-plan against a real S3 server: on an
// empty location it plans a full backup; on a full backup whose artifact
// has gone from the store the fetch fails, and it plans a full backup that
// says so, leaving no half-fetched file behind.
func TestBackupPlanCommand(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	dest := "s3://" + srv.Bucket + "/plan/graph"
	to, planFile := filepath.Join(t.TempDir(), "databases"), filepath.Join(t.TempDir(), "plan")
	args := []string{"backup-plan", "--from", dest, "--full-every", "1d", "--neo4j-version", "5.26.0", "--databases", "neo4j,system", "--to", to, "--plan", planFile}
	readPlan := func() backupPlan {
		t.Helper()
		var p backupPlan
		data, err := os.ReadFile(planFile)
		if err != nil || json.Unmarshal(data, &p) != nil {
			t.Fatalf("the plan %q (%v)", data, err)
		}
		return p
	}
	code, stdout, stderr := cli(t, args...)
	if p := readPlan(); code != 0 || p.Type != backup.TypeFull || p.Reason != "there is no complete backup to build on" || p.Problem || stdout != "full backup: there is no complete backup to build on\n" {
		t.Fatalf("backup-plan on an empty location = %d (%q %q), plan %+v; want a full backup", code, stdout, stderr, p)
	}

	live := filepath.Join(t.TempDir(), "live")
	testfiles.WriteAll(t, live, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system"})
	commit(t, live, "neo4j", 1, 2)
	id := storage.NewID(time.Now().Add(-time.Minute))
	if _, code, stderr := (chainRun{t: t, dest: dest, version: "5.26.0", live: live}).run(id, nil); code != 0 {
		t.Fatalf("the full backup: %s", stderr)
	}
	var gone string
	for obj := range srv.Client().ListObjects(t.Context(), srv.Bucket, minio.ListObjectsOptions{Prefix: "plan/graph/" + id + "/neo4j-", Recursive: true}) {
		gone = obj.Key
	}
	if gone == "" {
		t.Fatal("the full backup holds no artifact of neo4j")
	}
	if err := srv.Client().RemoveObject(t.Context(), srv.Bucket, gone, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, args...)
	p := readPlan()
	if code != 0 || p.Type != backup.TypeFull || !p.Problem || !strings.HasPrefix(p.Reason, "the artifacts of backup "+id+"'s chain could not be fetched: ") || len(p.Fetched) != 0 {
		t.Fatalf("backup-plan with an artifact gone = %d (%q %q), plan %+v; want a full backup saying the fetch failed", code, stdout, stderr, p)
	}
	if entries, _ := os.ReadDir(to); len(entries) != 0 {
		t.Errorf("the backup folder holds %v after the failed fetch; want nothing", entries)
	}

	code, _, stderr = cli(t, "backup-plan", "--from", dest, "--full-every", "24", "--neo4j-version", "5.26.0", "--databases", "neo4j", "--to", to, "--plan", planFile)
	if code != 2 || !strings.Contains(stderr, `--full-every: "24" is not an age`) {
		t.Errorf("backup-plan --full-every 24 = %d %q; want a usage error", code, stderr)
	}
}
