package podrestore

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// putLegacy writes a legacy backup into the store as the old CronJob did:
// the stand-in's 4.x neo4j-admin backup --backup-dir of each database, then
// every file put under <prefix>/<name>/<under>, as s3cmd put --recursive
// does, and the extra files given (path → content) beside them.
func putLegacy(t *testing.T, srv *s3test.Server, prefix, name, under string, databases []string, extra map[string]string) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	for _, db := range databases {
		if out, err := exec.Command("neo4j-admin", "backup", "--from=core-0:6362", "--backup-dir="+dir, "--database="+db).CombinedOutput(); err != nil {
			t.Fatalf("stand-in backup of %s: %v: %s", db, err, out)
		}
	}
	files := map[string]string{}
	for k, v := range extra {
		files[k] = v
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[strings.TrimPrefix(under+"/"+filepath.ToSlash(rel), "/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		key := prefix + "/" + name + "/" + p
		if _, err := srv.Client().PutObject(ctx, srv.Bucket, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func openStore(t *testing.T, srv *s3test.Server, prefix string) *storage.Store {
	t.Helper()
	loc, err := storage.ParseLocation("s3://" + srv.Bucket + "/" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(loc, storage.Config{
		Endpoint: srv.Endpoint, Region: s3test.Region, Retries: 2,
		Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A legacy backup is staged with a plan that points at the folder holding
// its database folders, wherever the old CronJob put them, and is said to
// be unverified; the restore then restores those databases and nothing
// else. One with no database is refused before anything is planned.
func TestStageLegacyBackup(t *testing.T) {
	srv := s3test.MinIO(t)
	junk := map[string]string{"tmp/hsperfdata_neo4j/4242": "jvm", "tmp/backup.log": "log"}
	for i, tt := range []struct {
		name  string
		under string // where the database folders are put
		extra map[string]string
		dir   string // the plan's Dir
		err   string // a part of Stage's error, when one is wanted
	}{
		{name: "in tmp/ as s3cmd put /tmp wrote it", under: "tmp", extra: junk, dir: "11Nov2021-10:00:00/tmp"},
		{name: "copied to the top", under: "", extra: map[string]string{"README.txt": "old"}, dir: "11Nov2021-10:00:00"},
		{name: "junk only", extra: junk,
			err: "legacy backup 11Nov2021-10:00:00 cannot be restored: it holds only tmp/backup.log, tmp/hsperfdata_neo4j/, no Neo4j database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, log := useStandin(t, "4.4.40")
			prefix := "legacy/" + string(rune('a'+i))
			var databases []string
			if tt.err == "" {
				databases = []string{"neo4j", "system"}
			}
			putLegacy(t, srv, prefix, "11Nov2021-10:00:00", tt.under, databases, tt.extra)
			stageDir := filepath.Join(t.TempDir(), "stage")
			var out strings.Builder
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			plan, err := Stage(ctx, openStore(t, srv, prefix), StageOptions{
				At: "11Nov2021-10:00:00", From: "s3://" + srv.Bucket + "/" + prefix, Stage: stageDir,
				Marker: filepath.Join(data, ".neo4j-backup", "restored"), Log: &out,
			})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Stage = %+v, %v; want one line saying %q", plan, err, tt.err)
				}
				if _, err := ReadPlan(stageDir); err == nil {
					t.Error("a plan was written for a backup that holds no database")
				}
				if _, err := os.Stat(filepath.Join(stageDir, "11Nov2021-10:00:00")); !os.IsNotExist(err) {
					t.Errorf("the refused backup is still in the stage folder (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stage: %v\n%s", err, out.String())
			}
			if plan.Dir != tt.dir || !slices.Equal(plan.Databases, []string{"neo4j", "system"}) || !plan.Legacy || plan.BackupID != "11Nov2021-10:00:00" {
				t.Errorf("plan = %+v; want legacy backup 11Nov2021-10:00:00 of neo4j and system in %s", plan, tt.dir)
			}
			if written, err := ReadPlan(stageDir); err != nil || written.Dir != tt.dir {
				t.Errorf("plan in the stage folder = %+v, %v; want Dir %s", written, err, tt.dir)
			}
			if s := out.String(); !strings.Contains(s, "fetched unverified (databases neo4j, system") || strings.Contains(s, " verified") || strings.Count(s, "\n") != 1 {
				t.Errorf("the fetch said %q; want one line saying it fetched neo4j and system unverified", s)
			}

			os.Remove(log)
			if out, err := runRestore(t, stageDir, data); err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			entries, _ := os.ReadDir(filepath.Join(data, "databases"))
			var restored []string
			for _, e := range entries {
				restored = append(restored, e.Name())
			}
			if !slices.Equal(restored, []string{"neo4j", "system"}) {
				t.Errorf("the data volume's databases are %v; want [neo4j system]", restored)
			}
			for _, db := range []string{"neo4j", "system"} {
				if b, err := os.ReadFile(filepath.Join(data, "databases", db, "neostore")); err != nil || string(b) != "store of "+db {
					t.Errorf("database %s after the restore: %q, %v; want the backup's store", db, b, err)
				}
			}
			calls, _ := os.ReadFile(log)
			if want := "--from=" + filepath.Join(stageDir, tt.dir, "system") + " --database=system"; !strings.Contains(string(calls), want) {
				t.Errorf("neo4j-admin was called\n%s\nwant a restore %s", calls, want)
			}
		})
	}
}
