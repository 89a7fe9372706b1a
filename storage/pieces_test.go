package storage_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// Upload records the CRC32C of every part of every file, and fetch checks
// each piece as it arrives: a bit flipped on the way of one piece (of a
// large file, and of a small one) makes that piece, and only it, come
// again, and the fetch ends byte-identical.
func TestFetchFetchesADamagedPieceAgain(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s, p := proxiedStore(t, srv, "pieces")
	ctx := testContext(t)
	src := integrityTree(t)
	m, err := s.Upload(ctx, src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		want := map[string]int{"neo4j/big": 3, "neo4j/small": 1, "empty": 0}[f.Path]
		if len(f.PartCRC32C) != want {
			t.Fatalf("the manifest has %d piece checksums for %s (%d bytes, pieces of %d); want %d", len(f.PartCRC32C), f.Path, f.Size, f.PartSize, want)
		}
	}
	inPiece := s3test.FlipResponseAt(500 << 10) // inside every piece: they go in parallel
	inPiece.Match, inPiece.Times = s3test.All(s3test.IsGet, s3test.KeyContains("/neo4j/big")), 1
	p.Add(inPiece)
	inSmall := s3test.FlipResponseAt(500)
	inSmall.Match, inSmall.Times = s3test.All(s3test.IsGet, s3test.KeyContains("/neo4j/small")), 1
	p.Add(inSmall)
	progress := &retryWatch{}
	_, got, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{Progress: progress})
	if err != nil {
		t.Fatalf("Fetch with a bit flipped on the way: %v", err)
	}
	if p.Hits(0) != 1 || p.Hits(1) != 1 {
		t.Fatalf("faults hit %d and %d requests; want 1 each", p.Hits(0), p.Hits(1))
	}
	sameTree(t, src, got)
	if n := countRequests(p.Requests(), "GET /"+srv.Bucket+"/pieces/2021-11-11T10:00:00Z/neo4j/big"); n != 4 {
		t.Errorf("neo4j/big was asked for %d times; want 4: three pieces, one of them twice", n)
	}
	moved, total, retries := progress.counts()
	if len(retries) != 2 || !strings.Contains(strings.Join(retries, "\n"), "arrived damaged (CRC32C") {
		t.Errorf("progress heard %q; want it told twice that a piece arrived damaged and comes again", retries)
	}
	if moved != total {
		t.Errorf("progress counted %d of %d bytes; a piece fetched again must not count twice", moved, total)
	}
}

// A piece changed in the store after upload never matches: the fetch fails
// with one line naming the file, the bytes and the tries, and leaves
// nothing behind.
func TestFetchRefusesAPieceChangedInTheStore(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "changed-piece")
	ctx := testContext(t)
	src := integrityTree(t)
	m, err := s.Upload(ctx, src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	replaceByte(t, srv, "changed-piece/"+m.BackupID+"/neo4j/big", 20*MiB)
	to := t.TempDir()
	_, _, err = s.Fetch(ctx, "latest", to, storage.FetchOptions{})
	want := "backup 2021-11-11T10:00:00Z: file neo4j/big: checksum mismatch in bytes 16777216 to 33554432: the manifest says CRC32C "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "(3 times); the object was changed or damaged after upload") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Fetch of a changed piece = %v; want one line starting %q", err, want)
	}
	if left := entries(t, to); len(left) != 0 {
		t.Errorf("after a failed fetch the folder holds %v; want it empty", left)
	}
}

// A manifest of an earlier release has no piece checksums: its files are
// checked by their SHA-256 as they stream in, and a changed one is refused.
func TestFetchChecksAManifestWithoutPiecesBySHA256(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "no-pieces")
	ctx := testContext(t)
	src := integrityTree(t)
	m, err := s.Upload(ctx, src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	// The manifest as the earlier release wrote it.
	key := "no-pieces/" + m.BackupID + "/manifest.json"
	var raw map[string]any
	json.Unmarshal(getObject(t, srv, key), &raw)
	for _, f := range raw["files"].([]any) {
		delete(f.(map[string]any), "partSize")
		delete(f.(map[string]any), "partCrc32c")
	}
	old, _ := json.Marshal(raw)
	if bytes.Contains(old, []byte("partCrc32c")) {
		t.Fatal("the rewritten manifest still has piece checksums")
	}
	putObject(t, srv, key, old)

	_, got, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{})
	if err != nil {
		t.Fatalf("Fetch of a backup whose manifest has no piece checksums: %v", err)
	}
	sameTree(t, src, got)

	replaceByte(t, srv, "no-pieces/"+m.BackupID+"/neo4j/big", 20*MiB)
	_, _, err = s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "file neo4j/big: checksum mismatch: the manifest says SHA-256 ") {
		t.Fatalf("Fetch of a changed file without piece checksums = %v; want its SHA-256 mismatch", err)
	}
}

// replaceByte changes one byte of an object in the store, keeping its size.
func replaceByte(t *testing.T, srv *s3test.Server, key string, at int) {
	t.Helper()
	data := getObject(t, srv, key)
	data[at] ^= 0xff
	putObject(t, srv, key, data)
}

func getObject(t *testing.T, srv *s3test.Server, key string) []byte {
	t.Helper()
	obj, err := srv.Client().GetObject(testContext(t), srv.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func putObject(t *testing.T, srv *s3test.Server, key string, data []byte) {
	t.Helper()
	if _, err := srv.Client().PutObject(testContext(t), srv.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
