package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

const MiB = 1 << 20

// tree is a backup folder to make: relative path → size in bytes.
type tree map[string]int64

// write creates the tree under dir with content that depends on the path.
func (tr tree) write(t testing.TB, dir string) {
	t.Helper()
	for path, size := range tr {
		abs := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(abs)
		if err != nil {
			t.Fatal(err)
		}
		seed := sha256.Sum256([]byte(path))
		rng := rand.NewChaCha8(seed)
		if _, err := io.CopyN(f, rng, size); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// smallFiles adds n files of size bytes under folder.
func (tr tree) smallFiles(folder string, n int, size int64) tree {
	for i := range n {
		tr[filepath.ToSlash(filepath.Join(folder, "f"+itoa(i)))] = size
	}
	return tr
}

func itoa(i int) string { return string(rune('a'+i%26)) + "-" + time.Duration(i).String() }

// digest lists the files under dir with their SHA-256, to compare trees.
func digest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// An empty folder is part of the tree too.
			if list, err := os.ReadDir(path); err == nil && len(list) == 0 && path != dir {
				rel, _ := filepath.Rel(dir, path)
				out[filepath.ToSlash(rel)+"/"] = "empty folder"
			}
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test unless dirs a and b hold the same files with the same bytes.
func sameTree(t testing.TB, want, got string) {
	t.Helper()
	a, b := digest(t, want), digest(t, got)
	for path, sum := range a {
		if b[path] != sum {
			t.Errorf("%s: fetched copy differs or is missing", path)
		}
	}
	for path := range b {
		if _, ok := a[path]; !ok {
			t.Errorf("%s: fetched but never uploaded", path)
		}
	}
}

// entries lists the names in dir, to show a fetch left it as it was.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestMain stops the S3 servers the tests share (s3test.SharedVersitygw,
// s3test.SharedMinIO) after the last test.
func TestMain(m *testing.M) { os.Exit(s3test.Run(m)) }

// open connects to a test server's bucket under prefix.
func open(t testing.TB, srv *s3test.Server, prefix string) *storage.Store {
	t.Helper()
	loc, err := storage.ParseLocation("s3://" + srv.Bucket + "/" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(loc, storage.Config{
		Endpoint:    srv.Endpoint,
		Region:      s3test.Region,
		Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
		Retries:     2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// watch is a Progress that runs a function when a given number of files are done.
type watch struct {
	mu     sync.Mutex
	done   []string
	bytes  int64
	total  int64
	after  int
	action func(done []string)
	fired  bool
}

func (w *watch) Begin(files int, bytes int64) { w.mu.Lock(); w.total = bytes; w.mu.Unlock() }
func (w *watch) Transferred(n int64)          { w.mu.Lock(); w.bytes += n; w.mu.Unlock() }
func (w *watch) FileDone(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = append(w.done, path)
	if w.action != nil && !w.fired && len(w.done) >= w.after {
		w.fired = true
		w.action(slices.Clone(w.done))
	}
}
