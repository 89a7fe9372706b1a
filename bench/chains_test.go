//go:build bench

// The chain figures (README "Scheduled backups"): what a day of hourly
// backups costs as full backups every run and as a chain (a full backup and
// differential ones, the parent's newest artifact fetched before each
// differential run, as backup-plan does), and what a restore fetches, on a
// MinIO of its own through storage, the code the CronJobs and the webhook
// run. The artifacts are files of the sizes Neo4j's would have: a full one
// the size of the store, a differential one CHANGE of it. neo4j-admin's own
// time (taking a backup, replaying a chain) does not run here and is not in
// the figures. bench/chains.sh runs it; the build tag keeps it out of make
// test.
package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

func TestChains(t *testing.T) {
	storeMiB := envInt(t, "STORE_MIB", 256)
	runs := envInt(t, "RUNS", 24)
	changePct, err := strconv.ParseFloat(envOr("CHANGE", "1"), 64)
	if err != nil {
		t.Fatalf("CHANGE=%q is not a percentage", os.Getenv("CHANGE"))
	}
	store := int64(storeMiB) << 20
	diff := int64(float64(store) * changePct / 100)
	srv := s3test.MinIO(t)
	ctx := context.Background()
	open := func(prefix string) *storage.Store {
		s, err := storage.Open(storage.Location{Bucket: srv.Bucket, Prefix: prefix}, storage.Config{
			Endpoint: srv.Endpoint, Region: s3test.Region,
			Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	artifact := func(dir string, at time.Time, size int64) string {
		name := "neo4j-" + at.Format("2006-01-02T15-04-05") + ".backup"
		writeRandom(t, filepath.Join(dir, name), size)
		return name
	}

	// Full backups every run.
	fulls := open("fulls")
	var fullUp int64
	for i := range runs {
		at := start.Add(time.Duration(i) * time.Hour)
		dir := t.TempDir()
		name := artifact(dir, at, store)
		m, err := fulls.Upload(ctx, dir, storage.UploadOptions{ID: storage.NewID(at), Databases: []string{"neo4j"},
			Artifacts: []storage.Artifact{{Database: "neo4j", Path: name, Full: true, LowestTx: 1, HighestTx: int64(i + 1), Time: at}}})
		if err != nil {
			t.Fatal(err)
		}
		fullUp += m.Size()
	}

	// A chain: run 1 full, then differential ones, each after fetching the
	// parent's artifact into its folder (Exclude keeps it out of the upload).
	chain := open("chain")
	var chainUp, chainDown int64
	parent, parentFile := "", ""
	for i := range runs {
		at := start.Add(time.Duration(i) * time.Hour)
		dir := t.TempDir()
		opts := storage.UploadOptions{ID: storage.NewID(at), Databases: []string{"neo4j"}}
		size, full := store, i == 0
		if !full {
			b, err := chain.Resolve(ctx, parent)
			if err != nil {
				t.Fatal(err)
			}
			if err := chain.FetchFiles(ctx, b, []string{parentFile}, dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range b.Manifest.Files {
				chainDown += f.Size
			}
			opts.Type, opts.Parent, opts.Exclude, size = storage.TypeDifferential, parent, []string{parentFile}, diff
		}
		name := artifact(dir, at, size)
		opts.Artifacts = []storage.Artifact{{Database: "neo4j", Path: name, Full: full, LowestTx: int64(i + 1), HighestTx: int64(i + 1), Time: at}}
		m, err := chain.Upload(ctx, dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		chainUp += m.Size()
		parent, parentFile = m.BackupID, name
	}

	// What a restore of the day's end fetches, and how long that takes.
	fetch := func(s *storage.Store) (time.Duration, int64) {
		var best time.Duration
		var bytes int64
		for range 3 {
			dir := t.TempDir()
			begin := time.Now()
			_, path, err := s.Fetch(ctx, "latest", dir, storage.FetchOptions{})
			took := time.Since(begin)
			if err != nil {
				t.Fatal(err)
			}
			bytes = treeSize(t, path)
			if best == 0 || took < best {
				best = took
			}
			os.RemoveAll(dir)
		}
		return best, bytes
	}
	fullTook, fullBytes := fetch(fulls)
	chainTook, chainBytes := fetch(chain)

	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	t.Logf("store %d MiB, %d hourly runs, %.1f%% changed between runs, MinIO on 127.0.0.1", storeMiB, runs, changePct)
	t.Logf("%-34s %14s %14s %8s", "", "full every run", "chain", "chain/full")
	t.Logf("%-34s %14s %14s %7.3fx", "uploaded per run, after the first", mib(store), mib(diff), float64(diff)/float64(store))
	t.Logf("%-34s %14s %14s %8s", "downloaded for parents, the day", mib(0), mib(chainDown), "-")
	t.Logf("%-34s %14s %14s %7.3fx", "stored in S3 after the day", mib(fullUp), mib(chainUp), float64(chainUp)/float64(fullUp))
	t.Logf("%-34s %14s %14s %7.2fx", "restore of the day's end: fetched", mib(fullBytes), mib(chainBytes), float64(chainBytes)/float64(fullBytes))
	t.Logf("%-34s %14s %14s %7.2fx", "restore of the day's end: fetch", fullTook.Round(time.Millisecond), chainTook.Round(time.Millisecond), chainTook.Seconds()/fullTook.Seconds())
}

func writeRandom(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		rand.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			t.Fatal(err)
		}
	}
}

func treeSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

func envInt(t *testing.T, name string, def int) int {
	v := envOr(name, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
