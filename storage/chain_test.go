package storage_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// chainUpload uploads a backup of one artifact file, neo4j-<id>.backup, as
// a full backup (parent "") or a differential one on parent.
func chainUpload(t *testing.T, s *storage.Store, id, parent string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	name := "neo4j-" + strings.ReplaceAll(id, ":", "-") + ".backup"
	start, _ := storage.ParseID(id)
	taken := start.Add(time.Second) // neo4j-admin took a second
	files := tree{name: 1000}
	for _, e := range extra {
		files[e] = 10
	}
	files.write(t, dir)
	opts := storage.UploadOptions{ID: id, Databases: []string{"neo4j"}, Exclude: extra,
		Artifacts: []storage.Artifact{{Database: "neo4j", Path: name, Full: parent == "", Time: taken}}}
	if parent != "" {
		opts.Type, opts.Parent = storage.TypeDifferential, parent
	}
	if _, err := s.Upload(testContext(t), dir, opts); err != nil {
		t.Fatalf("uploading %s: %v", id, err)
	}
}

// A differential backup is resolved and fetched with its whole chain, into
// one folder; a time between two backups of a chain restores the later one
// to that time; a chain with a missing link is skipped by latest and
// refused by exact ID.
func TestChainResolveAndFetch(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "chain")
	ctx := testContext(t)
	const t0, t1, t2 = "2021-11-11T00:00:00Z", "2021-11-11T01:00:00Z", "2021-11-11T02:00:00Z"
	chainUpload(t, s, t0, "")
	chainUpload(t, s, t1, t0, "neo4j-parent.backup") // the parent's artifact, fetched, not uploaded again
	chainUpload(t, s, t2, t1)

	cases := []struct {
		at, want, until, err string
		chain                []string
	}{
		{at: "latest", want: t2, chain: []string{t0, t1, t2}},
		{at: t1, want: t1, chain: []string{t0, t1}},
		{at: "2021-11-11T01:30:00Z", want: t2, until: "2021-11-11T01:30:00Z", chain: []string{t0, t1, t2}},
		{at: "2021-11-11T02:30:00+01:00", want: t2, until: "2021-11-11T01:30:00Z", chain: []string{t0, t1, t2}},
		{at: "2021-11-11T00:00:01Z", want: t1, until: "2021-11-11T00:00:01Z", chain: []string{t0, t1}},
		{at: "2021-11-11T00:00:00.5Z", err: "2021-11-11T00:00:00Z falls while full backup 2021-11-11T00:00:00Z was being taken; the store can be restored as of 2021-11-11T00:00:01Z"},
		{at: "2021-11-11T05:00:00Z", want: t2, chain: []string{t0, t1, t2}},
		{at: t0, want: t0, chain: []string{t0}},
	}
	for _, c := range cases {
		b, err := s.Resolve(ctx, c.at)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%s) = %s, %v; want an error saying %q", c.at, b.ID, err, c.err)
			}
			continue
		}
		until := ""
		if !b.RestoreUntil.IsZero() {
			until = b.RestoreUntil.Format(time.RFC3339)
		}
		if err != nil || b.ID != c.want || until != c.until || !slices.Equal(b.Chain, c.chain) {
			t.Errorf("Resolve(%s) = %s until %q, chain %v, %v; want %s until %q, chain %v", c.at, b.ID, until, b.Chain, err, c.want, c.until, c.chain)
		}
	}

	_, got, err := s.Fetch(ctx, "2021-11-11T01:30:00Z", t.TempDir(), storage.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if names := entries(t, got); !slices.Equal(names, []string{"neo4j-2021-11-11T00-00-00Z.backup", "neo4j-2021-11-11T01-00-00Z.backup", "neo4j-2021-11-11T02-00-00Z.backup"}) {
		t.Errorf("the fetched chain holds %v; want the three artifacts and not the excluded file", names)
	}

	// The parent's artifact alone, for a differential backup to build on.
	latest, err := s.Resolve(ctx, t2)
	if err != nil {
		t.Fatal(err)
	}
	into := t.TempDir()
	if err := s.FetchFiles(ctx, latest, []string{"neo4j-2021-11-11T02-00-00Z.backup"}, into); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(into, "neo4j-2021-11-11T02-00-00Z.backup")); err != nil || fi.Size() != 1000 {
		t.Errorf("FetchFiles left %v, %v; want the 1000-byte artifact", fi, err)
	}

	// The middle link goes: latest falls back to the full backup, the
	// broken one by ID is refused naming the missing link.
	if err := srv.Client().RemoveObject(ctx, srv.Bucket, "chain/"+t1+"/manifest.json", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Resolve(ctx, "latest"); err != nil || b.ID != t0 {
		t.Errorf("Resolve(latest) with the chain broken = %s, %v; want %s", b.ID, err, t0)
	}
	if _, err := s.Resolve(ctx, t2); err == nil || !strings.Contains(err.Error(), "backup "+t2+" cannot be restored: it builds on backup "+t1+", which is missing or incomplete") {
		t.Errorf("Resolve(%s) with its parent gone = %v; want it refused naming the parent", t2, err)
	}
}

// A differential backup is refused at upload when its parent is not a
// complete older backup at the location.
func TestUploadRefusesABrokenChain(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "broken-chain")
	dir := t.TempDir()
	tree{"neo4j-x.backup": 10}.write(t, dir)
	for _, c := range []struct{ parent, want string }{
		{"2021-11-11T00:00:00Z", "its parent is not a complete backup in"},
		{"2021-11-12T00:00:00Z", "is not older than the backup"},
		{"", "needs its parent's backup ID"},
	} {
		_, err := s.Upload(testContext(t), dir, storage.UploadOptions{ID: "2021-11-11T01:00:00Z", Type: storage.TypeDifferential, Parent: c.parent})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Upload of a differential on %q = %v; want it refused saying %q", c.parent, err, c.want)
		}
	}
}

// A time after the end of a chain and before the next backup (a new full
// one, or differential ones retention pruned) is in no backup: refused,
// naming the restore points on either side. A time while a differential
// backup was being taken restores into it.
func TestChainGaps(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "chain-gaps")
	ctx := testContext(t)
	const t0, t1, t2 = "2021-11-11T00:00:00Z", "2021-11-11T01:00:00Z", "2021-11-12T00:00:00Z"
	chainUpload(t, s, t0, "")
	chainUpload(t, s, t1, t0)
	chainUpload(t, s, t2, "")
	_, err := s.Resolve(ctx, "2021-11-11T12:00:00Z")
	if want := "2021-11-11T12:00:00Z is after the end of a chain: the store can be restored as of 2021-11-11T01:00:01Z (backup " + t1 + ") or 2021-11-12T00:00:00Z (backup " + t2 + "), not in between"; err == nil || err.Error() != want {
		t.Errorf("Resolve of a time in the gap = %v; want %q", err, want)
	}
	b, err := s.Resolve(ctx, "2021-11-11T01:00:00.5Z")
	if err != nil || b.ID != t1 || !b.RestoreUntil.Equal(time.Date(2021, 11, 11, 1, 0, 0, 5e8, time.UTC)) {
		t.Errorf("Resolve of a time while %s was taken = %s until %v, %v; want it, restored to that time", t1, b.ID, b.RestoreUntil, err)
	}
	if b, err := s.Resolve(ctx, "2021-11-13T00:00:00Z"); err != nil || b.ID != t2 || !b.RestoreUntil.IsZero() {
		t.Errorf("Resolve after the newest backup = %s until %v, %v; want %s whole", b.ID, b.RestoreUntil, err, t2)
	}
}
