package storage_test

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// countingProgress counts what a verify reports, as the CLI's progress does.
type countingProgress struct {
	mu    sync.Mutex
	files int
	bytes int64
	done  []string
}

func (p *countingProgress) Begin(files int, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files = files
}

func (p *countingProgress) Transferred(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
}

func (p *countingProgress) FileDone(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, path)
}

// Verify reads every byte of a good backup, multipart files included, and
// writes nothing to disk; a backup changed after upload fails on the file
// that changed.
func TestVerify(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	ctx := testContext(t)
	s := open(t, srv, "verify/graph")
	src := t.TempDir()
	tree{"neo4j/foo": 3000, "neo4j/big": 40*MiB + 7, "neo4j/empty": 0}.smallFiles("neo4j/tx", 20, 100).write(t, src)
	m, err := s.Upload(ctx, src, storage.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	before := entries(t, cwd)

	var p countingProgress
	b, err := s.Verify(ctx, "latest", storage.FetchOptions{Progress: &p})
	if err != nil {
		t.Fatalf("Verify of a good backup: %v", err)
	}
	if b.ID != m.BackupID || b.Files != len(m.Files) || b.Size != m.Size() {
		t.Errorf("Verify = %s, %d files, %d bytes; want %s, %d, %d", b.ID, b.Files, b.Size, m.BackupID, len(m.Files), m.Size())
	}
	if p.files != len(m.Files) || p.bytes != m.Size() || len(p.done) != len(m.Files) {
		t.Errorf("progress saw %d files, %d bytes, %d done; want %d, %d, %d", p.files, p.bytes, len(p.done), len(m.Files), m.Size(), len(m.Files))
	}
	if after := entries(t, cwd); len(after) != len(before) {
		t.Errorf("Verify wrote into the working folder: %v, was %v", after, before)
	}

	// The same bytes count, other bytes: the checksum tells.
	key := "verify/graph/" + m.BackupID + "/neo4j/foo"
	if _, err := srv.Client().PutObject(ctx, srv.Bucket, key, bytes.NewReader(bytes.Repeat([]byte{'x'}, 3000)), 3000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(ctx, m.BackupID, storage.FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "backup "+m.BackupID+": file neo4j/foo: checksum mismatch") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Verify of a changed backup = %v; want one line naming the checksum mismatch of neo4j/foo", err)
	}
	// A part of a multipart file cut short: the size tells.
	key = "verify/graph/" + m.BackupID + "/neo4j/big"
	if _, err := srv.Client().PutObject(ctx, srv.Bucket, key, strings.NewReader("short"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client().PutObject(ctx, srv.Bucket, "verify/graph/"+m.BackupID+"/neo4j/foo", bytes.NewReader(mustRead(t, src+"/neo4j/foo")), 3000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(ctx, m.BackupID, storage.FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "file neo4j/big:") {
		t.Fatalf("Verify of a cut file = %v; want it to name neo4j/big", err)
	}
}

// A legacy backup has no manifest: Verify says it cannot check it.
func TestVerifyRefusesLegacyBackup(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s := open(t, srv, "verify-legacy/graph")
	history(t, srv, s, nil, nil, []string{"11Nov2021-10:00:00"})
	_, err := s.Verify(testContext(t), "11Nov2021-10:00:00", storage.FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "legacy backup without a manifest") {
		t.Fatalf("Verify of a legacy backup = %v; want it refused for want of a manifest", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
