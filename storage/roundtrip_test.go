package storage_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// A Neo4j 4.x-shaped backup with every awkward case: empty files, deep
// folders, a 200 MiB file (many parts), a file just over one part, and
// 2,000 small files.
func TestRoundTripVersitygw(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	src := t.TempDir()
	tr := tree{
		"neo4j/neostore":                               200 * MiB,
		"neo4j/neostore.nodestore.db":                  16*MiB + 1,
		"neo4j/empty.db":                               0,
		"system/schema/index/native-btree-1.0/1/x":     3,
		"system/schema/index/native-btree-1.0/1/empty": 0,
		"system/a/b/c/d/e/f/deep":                      4096,
	}
	tr.smallFiles("neo4j/tx", 2000, 2048)
	tr.write(t, src)
	testRoundTrip(t, srv, src, len(tr), []string{"neo4j", "system"})
}

// MinIO gets a smaller tree, still with a multipart file, as a compatibility check.
func TestRoundTripMinIO(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	src := t.TempDir()
	tr := tree{
		"neo4j-2024-05-01T10-00-00.backup":  40 * MiB,
		"system-2024-05-01T10-00-01.backup": 1 * MiB,
		"empty":                             0,
		"nested/a/b/c":                      1,
	}
	tr.smallFiles("nested/many", 100, 1000)
	tr.write(t, src)
	// Empty folders, as a Neo4j store has them: S3 holds no folder, the
	// manifest does.
	for _, d := range []string{"transactions/neo4j", "nested/a/empty/deeper"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testRoundTrip(t, srv, src, len(tr), []string{"neo4j", "system"})
}

func testRoundTrip(t *testing.T, srv *s3test.Server, src string, files int, databases []string) {
	ctx := testContext(t)
	s := open(t, srv, "prod/graph")
	m, err := s.Upload(ctx, src, storage.UploadOptions{Databases: databases, Neo4jVersion: "5.26.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != files || !slices.Equal(m.Databases, databases) || m.Neo4jVersion != "5.26.0" {
		t.Errorf("manifest has %d files, databases %v, version %q; want %d files, %v, 5.26.0", len(m.Files), m.Databases, m.Neo4jVersion, files, databases)
	}

	backups, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != 1 || backups[0].ID != m.BackupID || backups[0].Status != storage.Complete ||
		backups[0].Files != files || backups[0].Size != m.Size() {
		t.Fatalf("List = %+v; want one complete backup %s of %d files, %d bytes", backups, m.BackupID, files, m.Size())
	}

	to := filepath.Join(t.TempDir(), "plugins", "neo4j-backup") // does not exist yet
	b, path, err := s.Fetch(ctx, "latest", to, storage.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != m.BackupID || path != filepath.Join(to, m.BackupID) {
		t.Errorf("Fetch = %s at %s; want %s at %s", b.ID, path, m.BackupID, filepath.Join(to, m.BackupID))
	}
	sameTree(t, src, path)
	if got := entries(t, to); !slices.Equal(got, []string{m.BackupID}) {
		t.Errorf("fetch left %v in %s; want only the backup", got, to)
	}

	// Fetching again finds the verified copy in place and keeps it.
	if _, again, err := s.Fetch(ctx, m.BackupID, to, storage.FetchOptions{}); err != nil || again != path {
		t.Errorf("second fetch = %s, %v; want %s, nil", again, err, path)
	}
}
