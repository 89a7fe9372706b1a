package storage_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// Drill results go beside the manifest, which stays as it was, read back
// oldest first; the backup still lists, fetches and verifies as before.
func TestDrillResultsBesideTheManifest(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	ctx := testContext(t)
	s := open(t, srv, "drills/graph")
	src := t.TempDir()
	tree{"neo4j-2024-05-01T10-00-00.backup": 2000}.write(t, src)
	m, err := s.Upload(ctx, src, storage.UploadOptions{Databases: []string{"neo4j"}})
	if err != nil {
		t.Fatal(err)
	}
	manifestKey := "drills/graph/" + m.BackupID + "/" + storage.ManifestName
	before, err := srv.Client().StatObject(ctx, srv.Bucket, manifestKey, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Date(2024, 5, 2, 3, 0, 0, 0, time.UTC)
	failed := storage.DrillResult{BackupID: m.BackupID, StartTime: start, EndTime: start.Add(time.Minute), Neo4jVersion: "5.26.0",
		Databases: []string{"neo4j"}, Failures: []string{"database neo4j is inconsistent"}}
	passed := storage.DrillResult{BackupID: m.BackupID, StartTime: start.Add(time.Hour), EndTime: start.Add(time.Hour + time.Second), Neo4jVersion: "5.26.0",
		Passed: true, Databases: []string{"neo4j"}}
	for _, r := range []storage.DrillResult{passed, failed} { // written out of order
		key, err := s.WriteDrill(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := "drills/graph/" + m.BackupID + "/drills/"; !strings.HasPrefix(key, want) {
			t.Errorf("drill written to %s; want under %s", key, want)
		}
	}
	got, err := s.Drills(ctx, m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []storage.DrillResult{failed, passed}; !reflect.DeepEqual(got, want) {
		t.Errorf("Drills = %+v; want %+v", got, want)
	}
	after, err := srv.Client().StatObject(ctx, srv.Bucket, manifestKey, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag != before.ETag || !after.LastModified.Equal(before.LastModified) {
		t.Errorf("the manifest changed: %s %v, was %s %v", after.ETag, after.LastModified, before.ETag, before.LastModified)
	}
	backups, err := s.List(ctx)
	if err != nil || len(backups) != 1 || backups[0].Files != len(m.Files) {
		t.Fatalf("List = %+v, %v; want the one backup of %d files", backups, err, len(m.Files))
	}
	if _, err := s.Verify(ctx, "latest", storage.FetchOptions{}); err != nil {
		t.Errorf("Verify with drills beside the manifest: %v", err)
	}
	if _, _, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{}); err != nil {
		t.Errorf("Fetch with drills beside the manifest: %v", err)
	}
}

// A drill result needs a complete backup to go beside.
func TestDrillNeedsACompleteBackup(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "drills-none/graph")
	_, err := s.WriteDrill(testContext(t), storage.DrillResult{BackupID: "2024-05-01T10:00:00Z", EndTime: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "has no manifest") {
		t.Fatalf("WriteDrill without a backup = %v; want it refused", err)
	}
}
