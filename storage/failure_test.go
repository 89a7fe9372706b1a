package storage_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// A backup changed in the store after upload is refused, naming the file,
// and the folder fetched into is left exactly as it was.
func TestFetchRefusesChangedBackup(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	raw := srv.Client()
	cases := []struct {
		name   string
		change func(ctx context.Context, key string) error
		want   string
	}{
		{"same size, other bytes", func(ctx context.Context, key string) error {
			_, err := raw.PutObject(ctx, srv.Bucket, key, bytes.NewReader(bytes.Repeat([]byte{'x'}, 3000)), 3000, minio.PutObjectOptions{})
			return err
		}, "file neo4j/foo: checksum mismatch"},
		{"shorter", func(ctx context.Context, key string) error {
			_, err := raw.PutObject(ctx, srv.Bucket, key, strings.NewReader("short"), 5, minio.PutObjectOptions{})
			return err
		}, "file neo4j/foo: size mismatch: the manifest says 3000 bytes, the store has 5"},
		{"deleted", func(ctx context.Context, key string) error {
			return raw.RemoveObject(ctx, srv.Bucket, key, minio.RemoveObjectOptions{})
		}, "file neo4j/foo: missing from the store"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			s := open(t, srv, "changed/"+string(rune('a'+i)))
			src := t.TempDir()
			tree{"neo4j/foo": 3000, "neo4j/big": 20 * MiB}.smallFiles("neo4j/tx", 20, 100).write(t, src)
			m, err := s.Upload(ctx, src, storage.UploadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.change(ctx, "changed/"+string(rune('a'+i))+"/"+m.BackupID+"/neo4j/foo"); err != nil {
				t.Fatal(err)
			}
			to := t.TempDir()
			tree{"already-here": 10}.write(t, to)
			_, _, err = s.Fetch(ctx, "latest", to, storage.FetchOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "backup "+m.BackupID+": ") {
				t.Fatalf("Fetch error = %v; want one starting %q and saying %q", err, "backup "+m.BackupID, c.want)
			}
			if got := entries(t, to); !slices.Equal(got, []string{"already-here"}) {
				t.Errorf("after a failed fetch the folder holds %v; want it untouched", got)
			}
		})
	}
}

// An upload that dies with the server leaves no manifest: the backup lists
// as incomplete and "latest" passes over it.
func TestServerKilledMidUpload(t *testing.T) {
	srv := s3test.Versitygw(t)
	ctx := testContext(t)
	s := open(t, srv, "killed")
	first := t.TempDir()
	tree{"neo4j/a": 100}.write(t, first)
	if _, err := s.Upload(ctx, first, storage.UploadOptions{ID: "2021-11-11T09:00:00Z"}); err != nil {
		t.Fatal(err)
	}

	src := t.TempDir()
	tree{"neo4j/big": 96 * MiB}.smallFiles("neo4j/tx", 40, 64<<10).write(t, src)
	var bigDone bool
	progress := &watch{after: 5, action: func(done []string) {
		bigDone = slices.Contains(done, "neo4j/big")
		srv.Kill()
	}}
	_, err := s.Upload(ctx, src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z", Progress: progress})
	if bigDone {
		t.Fatal("the big file was stored before the server was killed; the test needs a bigger file")
	}
	if err == nil {
		t.Fatal("upload succeeded with the server killed half-way")
	}
	t.Logf("upload error: %v", err)
	srv.Start()

	backups, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, b := range backups {
		statuses = append(statuses, b.ID+" "+string(b.Status))
	}
	want := []string{"2021-11-11T09:00:00Z complete", "2021-11-11T10:00:00Z incomplete"}
	if !slices.Equal(statuses, want) {
		t.Errorf("List = %v; want %v", statuses, want)
	}
	if b, err := s.Resolve(ctx, "latest"); err != nil || b.ID != "2021-11-11T09:00:00Z" {
		t.Errorf("Resolve(latest) = %s, %v; want the complete 2021-11-11T09:00:00Z", b.ID, err)
	}
	if _, err := s.Resolve(ctx, "2021-11-11T10:00:00Z"); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("Resolve(the incomplete one) = %v; want an error saying it is incomplete", err)
	}
}

// A fetch that dies with the server leaves the target as it was, and the
// same fetch succeeds once the server is back.
func TestServerKilledMidFetch(t *testing.T) {
	srv := s3test.Versitygw(t)
	ctx := testContext(t)
	s := open(t, srv, "killed-fetch")
	src := t.TempDir()
	tree{"neo4j/big": 96 * MiB}.smallFiles("neo4j/tx", 40, 64<<10).write(t, src)
	m, err := s.Upload(ctx, src, storage.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}

	to := t.TempDir()
	tree{"other-backup/file": 1}.write(t, to)
	var bigDone bool
	progress := &watch{after: 5, action: func(done []string) {
		bigDone = slices.Contains(done, "neo4j/big")
		srv.Kill()
	}}
	_, _, err = s.Fetch(ctx, "latest", to, storage.FetchOptions{Progress: progress})
	if bigDone {
		t.Fatal("the big file was fetched before the server was killed; the test needs a bigger file")
	}
	if err == nil {
		t.Fatal("fetch succeeded with the server killed half-way")
	}
	t.Logf("fetch error: %v", err)
	if got := entries(t, to); !slices.Equal(got, []string{"other-backup"}) {
		t.Errorf("after a failed fetch the folder holds %v; want it untouched", got)
	}

	srv.Start()
	_, path, err := s.Fetch(ctx, "latest", to, storage.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, path)
	if path != filepath.Join(to, m.BackupID) {
		t.Errorf("fetched into %s; want %s", path, filepath.Join(to, m.BackupID))
	}
}

// Wrong credentials, a missing bucket and an unreachable endpoint each give
// one sentence that says what to do.
func TestStoreErrors(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	cases := []struct {
		name string
		open func(t *testing.T) *storage.Store
		want string
	}{
		{"wrong credentials", func(t *testing.T) *storage.Store {
			return openWith(t, srv.Endpoint, srv.Bucket, "wrong", "wrong-secret")
		}, "refused the credentials"},
		{"missing bucket", func(t *testing.T) *storage.Store {
			return openWith(t, srv.Endpoint, "no-such-bucket", s3test.AccessKey, s3test.SecretKey)
		}, `bucket "no-such-bucket" does not exist`},
		{"unreachable endpoint", func(t *testing.T) *storage.Store {
			return openWith(t, "http://127.0.0.1:1", srv.Bucket, s3test.AccessKey, s3test.SecretKey)
		}, "cannot reach the object store at http://127.0.0.1:1 (connection refused)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.open(t)
			ctx := testContext(t)
			_, err := s.List(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("List error = %v; want one line saying %q", err, c.want)
			}
			src := t.TempDir()
			tree{"neo4j/a": 10}.write(t, src)
			if _, err := s.Upload(ctx, src, storage.UploadOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Upload error = %v; want one saying %q", err, c.want)
			}
			if _, _, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Fetch error = %v; want one saying %q", err, c.want)
			}
		})
	}
}

func openWith(t *testing.T, endpoint, bucket, key, secret string) *storage.Store {
	t.Helper()
	s, err := storage.Open(storage.Location{Bucket: bucket, Prefix: "p"}, storage.Config{
		Endpoint: endpoint, Region: s3test.Region, Retries: 1,
		Credentials: credentials.NewStaticV4(key, secret, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
