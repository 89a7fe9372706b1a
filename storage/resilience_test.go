package storage_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// resilTree is a backup with a file of several parts and small files, each
// fetched with range requests.
func resilTree(t *testing.T) string {
	src := t.TempDir()
	tree{"neo4j/big": 40 * MiB, "neo4j/one-part": 3 * MiB}.smallFiles("neo4j/tx", 4, 200<<10).write(t, src)
	return src
}

// resilStore opens prefix at endpoint with a stall timeout of its own.
func resilStore(t *testing.T, endpoint, bucket, prefix string, stall time.Duration, retries int) *storage.Store {
	t.Helper()
	loc, err := storage.ParseLocation("s3://" + bucket + "/" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(loc, storage.Config{
		Endpoint:     endpoint,
		Region:       s3test.Region,
		Credentials:  credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
		Retries:      retries,
		StallTimeout: stall,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// retryWatch is a Progress that counts bytes and notes retries.
type retryWatch struct {
	mu      sync.Mutex
	total   int64
	bytes   int64
	retries []string
	onBytes func(sofar int64) // called as bytes arrive, outside mu
}

func (w *retryWatch) Begin(_ int, bytes int64) { w.mu.Lock(); w.total = bytes; w.mu.Unlock() }
func (w *retryWatch) Transferred(n int64) {
	w.mu.Lock()
	w.bytes += n
	sofar := w.bytes
	w.mu.Unlock()
	if w.onBytes != nil {
		w.onBytes(sofar)
	}
}
func (w *retryWatch) FileDone(string) {}
func (w *retryWatch) Retrying(file, why string) {
	w.mu.Lock()
	w.retries = append(w.retries, file+": "+why)
	w.mu.Unlock()
}

func (w *retryWatch) counts() (bytes, total int64, retries []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes, w.total, slices.Clone(w.retries)
}

// A ranged GET that breaks (a reset in the middle of its body, a stall, a
// 503) is retried from the byte it reached, and the fetch ends with the
// backup byte for byte.
func TestResilFetchRecovers(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	src := resilTree(t)
	cases := []struct {
		name  string
		fault s3test.Fault
		stall time.Duration // the store's stall timeout: short where the stall is the fault
		why   string        // in every retry's note
	}{
		{"reset mid-body", s3test.Fault{Match: bigRanges, Times: 3, ResetAfter: 1 * MiB}, 20 * time.Second, "dropped at byte"},
		// A request silent for 3 s is dropped; its retry has 3 s more
		// before the fetch would fail, room for a loaded machine.
		{"stall mid-body", s3test.Fault{Match: bigRanges, Times: 2, StallAfter: 1 * MiB}, 6 * time.Second, "went silent for 3s at byte"},
		{"503", s3test.Fault{Match: bigRanges, Times: 3, Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}, 20 * time.Second, "is unavailable (ServiceUnavailable, HTTP 503) at byte "},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			prefix := "recovers/" + string(rune('a'+i))
			m, err := open(t, srv, prefix).Upload(ctx, src, storage.UploadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			proxy := s3test.NewFaultProxy(t, srv)
			proxy.Add(c.fault)
			s := resilStore(t, proxy.Endpoint(), srv.Bucket, prefix, c.stall, 0)
			progress := &retryWatch{}
			start := time.Now()
			_, path, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{Progress: progress})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			t.Logf("fetched in %s", time.Since(start).Round(time.Millisecond))
			sameTree(t, src, path)
			if got := proxy.Hits(0); got != c.fault.Times {
				t.Errorf("the fault hit %d requests; want %d", got, c.fault.Times)
			}
			bytes, total, retries := progress.counts()
			if total != m.Size() || bytes != total {
				t.Errorf("progress counted %d of %d bytes; want %d of %d: a resumed request fetches only what is missing", bytes, total, m.Size(), m.Size())
			}
			if len(retries) != c.fault.Times {
				t.Errorf("%d retries reported (%q); want %d", len(retries), retries, c.fault.Times)
			}
			for _, r := range retries {
				if !strings.Contains(r, c.why) || !strings.Contains(r, proxy.Endpoint()) {
					t.Errorf("retry note %q does not name %s and say %q", r, proxy.Endpoint(), c.why)
				}
			}
		})
	}
}

// A connection that breaks every time is a network failure, said as one,
// with where it broke and how often it was tried: not a size mismatch.
func TestResilFetchDropsEveryTime(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	ctx := testContext(t)
	src := t.TempDir()
	tree{"neo4j/one-part": 3 * MiB}.write(t, src)
	m, err := open(t, srv, "drops").Upload(ctx, src, storage.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := s3test.NewFaultProxy(t, srv)
	proxy.Add(s3test.Fault{Match: s3test.IsRangedGet, ResetAfter: 256 << 10})
	s := resilStore(t, proxy.Endpoint(), srv.Bucket, "drops", 10*time.Second, 2)
	to := t.TempDir()
	_, _, err = s.Fetch(ctx, "latest", to, storage.FetchOptions{})
	want := "backup " + m.BackupID + ": file neo4j/one-part: the connection to " + proxy.Endpoint() + " dropped at byte "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), " of 3145728; it was retried") ||
		strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "mismatch") || strings.Contains(err.Error(), "network connection") {
		t.Fatalf("Fetch error = %v; want one line starting %q, naming the size and the retries", err, want)
	}
	t.Log(err)
	// It moved on every attempt, so each resumed further: more than the
	// two retries in a row that move nothing.
	if hits := proxy.Hits(0); hits < 3 {
		t.Errorf("%d ranged GETs; want at least 3", hits)
	}
	if got := entries(t, to); len(got) != 0 {
		t.Errorf("after a failed fetch the folder holds %v; want it empty", got)
	}
}

// A MinIO that is killed in the middle of a fetch and back a moment later
// does not end the fetch.
func TestResilFetchSurvivesRestart(t *testing.T) {
	srv := s3test.MinIO(t)
	ctx := testContext(t)
	src := resilTree(t)
	if _, err := open(t, srv, "restart").Upload(ctx, src, storage.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	s := resilStore(t, srv.Endpoint, srv.Bucket, "restart", 20*time.Second, 0)
	restarted := make(chan struct{})
	var once sync.Once
	progress := &retryWatch{}
	progress.onBytes = func(sofar int64) {
		if sofar < 10*MiB {
			return
		}
		once.Do(func() {
			// The fault: the server dies under the reader, in this
			// goroutine, and comes back 2 s later.
			srv.Kill()
			go func() {
				defer close(restarted)
				back := time.NewTimer(2 * time.Second)
				defer back.Stop()
				select {
				case <-back.C:
					srv.Start()
				case <-ctx.Done():
				}
			}()
		})
	}
	_, path, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{Progress: progress})
	select {
	case <-restarted:
	case <-time.After(time.Minute):
		t.Fatal("MinIO was not started again within a minute")
	}
	if err != nil {
		t.Fatalf("Fetch across a restart: %v", err)
	}
	sameTree(t, src, path)
	_, _, retries := progress.counts()
	if len(retries) == 0 {
		t.Error("no retry reported across a restart of the server")
	}
	t.Logf("retries: %q", retries)
}

// A server that takes the requests for data and never answers fails the
// fetch within the stall timeout (and a little), in one line that names
// the endpoint and how far it got.
func TestResilFetchSilentServer(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	ctx := testContext(t)
	src := t.TempDir()
	tree{"neo4j/big": 20 * MiB, "neo4j/small": 1000}.write(t, src)
	m, err := open(t, srv, "silent").Upload(ctx, src, storage.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Listings and the manifest go through; GETs of data never get an answer.
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	closing := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/neo4j/") {
			select {
			case <-r.Context().Done():
			case <-closing:
			}
			return
		}
		forward.ServeHTTP(w, r)
	}))
	defer silent.Close()
	defer close(closing)

	const stall = 2 * time.Second
	s := resilStore(t, silent.URL, srv.Bucket, "silent", stall, 0)
	start := time.Now()
	_, _, err = s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Fetch from a silent server succeeded")
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
	// Pieces go in parallel: the first to give up names the byte its piece
	// starts at, where nothing arrived.
	want := regexp.MustCompile("no data from " + regexp.QuoteMeta(silent.URL) + ` for 2s at byte (0 of 1000|0 of 20971520|16777216 of 20971520); `)
	if !strings.HasPrefix(err.Error(), "backup "+m.BackupID+": file neo4j/") || !want.MatchString(err.Error()) ||
		!strings.Contains(err.Error(), "--timeout") || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "context") {
		t.Errorf("Fetch error = %v; want one line matching %q and what to do", err, want)
	}
	if took < stall || took > stall+5*time.Second {
		t.Errorf("the fetch gave up after %s; want between %s and %s", took, stall, stall+5*time.Second)
	}
}

// The hidden folder of a fetch that was killed is removed by the next fetch
// into the same folder; the folder of a fetch still running (it holds the
// lock) is not.
func TestResilFetchRemovesStalePartial(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	ctx := testContext(t)
	src := t.TempDir()
	tree{"neo4j/a": 1000}.write(t, src)
	s := open(t, srv, "stale")
	m, err := s.Upload(ctx, src, storage.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	killed := filepath.Join(to, ".2021-11-11T10:00:00Z.partial-123")
	running := filepath.Join(to, "."+m.BackupID+".partial-456")
	for _, dir := range []string{killed, running} {
		tree{"neo4j/a": 500}.write(t, dir)
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	if _, path, err := s.Fetch(ctx, "latest", to, storage.FetchOptions{}); err != nil {
		t.Fatal(err)
	} else {
		sameTree(t, src, path)
	}
	want := []string{filepath.Base(running), m.BackupID}
	if got := entries(t, to); !slices.Equal(got, want) {
		t.Errorf("after the fetch the folder holds %v; want %v (the killed fetch's folder gone, the locked one kept)", got, want)
	}
}

// bigRanges matches the ranged GETs of resilTree's file of several parts.
var bigRanges = s3test.All(s3test.IsRangedGet, s3test.KeyContains("neo4j/big"))

// A store that answers the listing with 503 for longer than minio-go's own
// retries of one request is asked again: finding the backup is under the
// same rule as moving it.
func TestResilFetchListingUnavailable(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	ctx := testContext(t)
	src := t.TempDir()
	tree{"neo4j/a": 1000}.write(t, src)
	if _, err := open(t, srv, "listing").Upload(ctx, src, storage.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy := s3test.NewFaultProxy(t, srv)
	listing := func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Query().Has("list-type") }
	proxy.Add(s3test.Fault{Match: listing, Times: 3, Status: http.StatusServiceUnavailable, Code: "SlowDown"})
	// Two tries per request in minio-go: the first Resolve fails on its own.
	s := resilStore(t, proxy.Endpoint(), srv.Bucket, "listing", 10*time.Second, 2)
	_, path, err := s.Fetch(ctx, "latest", t.TempDir(), storage.FetchOptions{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	sameTree(t, src, path)
	if got := proxy.Hits(0); got != 3 {
		t.Errorf("the fault hit %d listings; want 3", got)
	}
}

// BenchmarkFetch1GiB fetches and verifies a backup of one 1 GiB file from a
// local MinIO. Its floor, BenchmarkGet1GiB, is the same ranged GETs into
// io.Discard: no hashing, no disk.
func BenchmarkFetch1GiB(b *testing.B) {
	_, s := benchBackup(b)
	b.SetBytes(1 << 30)
	for b.Loop() {
		to := b.TempDir()
		if _, _, err := s.Fetch(b.Context(), "latest", to, storage.FetchOptions{}); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(to)
	}
}

func BenchmarkGet1GiB(b *testing.B) {
	srv, s := benchBackup(b)
	backups, err := s.List(b.Context())
	if err != nil || len(backups) != 1 {
		b.Fatal(backups, err)
	}
	key := "bench/" + backups[0].ID + "/neo4j/big"
	client := srv.Client()
	b.SetBytes(1 << 30)
	for b.Loop() {
		var g errgroup.Group
		g.SetLimit(8)
		for start := int64(0); start < 1<<30; start += 16 * MiB {
			g.Go(func() error {
				opts := minio.GetObjectOptions{}
				opts.SetRange(start, start+16*MiB-1)
				obj, err := client.GetObject(b.Context(), srv.Bucket, key, opts)
				if err != nil {
					return err
				}
				defer obj.Close()
				_, err = io.Copy(io.Discard, obj)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBackup(b *testing.B) (*s3test.Server, *storage.Store) {
	srv := s3test.SharedMinIO(b)
	src := b.TempDir()
	tree{"neo4j/big": 1 << 30}.write(b, src)
	s := open(b, srv, "bench")
	if _, err := s.Upload(b.Context(), src, storage.UploadOptions{}); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(src)
	return srv, s
}
