package storage_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// history fills a location with complete backups at the given IDs, an
// incomplete one (files, no manifest) per incomplete ID, and legacy folders
// as the old s3cmd CronJob wrote them.
func history(t *testing.T, srv *s3test.Server, s *storage.Store, complete, incomplete, legacy []string) {
	t.Helper()
	ctx := testContext(t)
	for _, id := range complete {
		src := t.TempDir()
		tree{"neo4j/" + id: 100}.write(t, src)
		if _, err := s.Upload(ctx, src, storage.UploadOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	prefix := s.Location().Prefix + "/"
	for _, id := range incomplete {
		put(t, srv, prefix+id+"/neo4j/half-done", "partial")
	}
	for _, name := range legacy {
		put(t, srv, prefix+name+"/tmp/neo4j/neostore", "legacy "+name)
		put(t, srv, prefix+name+"/tmp/system/neostore", "legacy system")
	}
}

func put(t *testing.T, srv *s3test.Server, key, content string) {
	t.Helper()
	_, err := srv.Client().PutObject(context.Background(), srv.Bucket, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveAcrossBackups(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s := open(t, srv, "ns/graph")
	history(t, srv, s,
		[]string{"2021-11-11T10:00:00Z", "2021-11-12T10:00:00Z", "2021-11-13T10:00:00Z"},
		[]string{"2021-11-14T10:00:00Z"},
		[]string{"10Nov2021-10:00:00"})
	cases := []struct{ at, want, err string }{
		{at: "latest", want: "2021-11-13T10:00:00Z"},
		{at: "2021-11-12T10:00:00Z", want: "2021-11-12T10:00:00Z"},
		{at: "2021-11-12T23:59:59Z", want: "2021-11-12T10:00:00Z"},
		{at: "2021-11-13T09:00:00+01:00", want: "2021-11-12T10:00:00Z"}, // 08:00Z
		{at: "2021-11-13T12:00:00+01:00", want: "2021-11-13T10:00:00Z"}, // 11:00Z
		{at: "2021-11-15T00:00:00Z", want: "2021-11-13T10:00:00Z"},      // passes over the incomplete one
		{at: "10Nov2021-10:00:00", want: "10Nov2021-10:00:00"},
		{at: "2021-11-14T10:00:00Z", err: "is incomplete"},
		{at: "2021-11-10T12:00:00Z", err: "no complete backup at or before 2021-11-10T12:00:00Z"},
		{at: "09Nov2021-10:00:00", err: "there is no backup named 09Nov2021-10:00:00"},
		{at: "yesterday", err: `"yesterday" is not "latest"`},
	}
	ctx := testContext(t)
	for _, c := range cases {
		b, err := s.Resolve(ctx, c.at)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Resolve(%s) = %s, %v; want an error saying %q", c.at, b.ID, err, c.err)
		case c.err == "" && (err != nil || b.ID != c.want):
			t.Errorf("Resolve(%s) = %s, %v; want %s", c.at, b.ID, err, c.want)
		}
	}
}

// A folder written by `s3cmd put /tmp s3://…/<date>/ --recursive` lists as
// legacy, is never "latest", and fetches by its exact name.
func TestLegacyBackup(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s := open(t, srv, "old")
	history(t, srv, s, nil, nil, []string{"11Nov2021-10:00:00"})
	ctx := testContext(t)

	backups, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != 1 || backups[0].Status != storage.Legacy || backups[0].Files != 2 {
		t.Fatalf("List = %+v; want one legacy backup of 2 files", backups)
	}
	if _, err := s.Resolve(ctx, "latest"); err == nil || !strings.Contains(err.Error(), "1 legacy") {
		t.Errorf("Resolve(latest) = %v; want an error pointing at the legacy backup", err)
	}

	to := t.TempDir()
	b, path, err := s.Fetch(ctx, "11Nov2021-10:00:00", to, storage.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != storage.Legacy || path != filepath.Join(to, "11Nov2021-10:00:00") {
		t.Errorf("Fetch = %s %s at %s; want the legacy backup in %s", b.ID, b.Status, path, filepath.Join(to, "11Nov2021-10:00:00"))
	}
	got := digest(t, path)
	if len(got) != 2 || got["tmp/neo4j/neostore"] == "" || got["tmp/system/neostore"] == "" {
		t.Errorf("fetched %v; want tmp/neo4j/neostore and tmp/system/neostore", got)
	}
}

// Storage knows no Neo4j names: a legacy folder comes back exactly as the
// old CronJob's s3cmd wrote it, database folders in tmp/ or at the top and
// the rest of /tmp alike (podrestore and neo4j decide what is a database),
// and folder markers some tools write are no files.
func TestLegacyBackupFetchedAsWritten(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s := open(t, srv, "old/graph")
	prefix := s.Location().Prefix + "/"
	written := map[string]string{
		"11Nov2021-10:00:00/tmp/neo4j/neostore":              "store",
		"11Nov2021-10:00:00/tmp/neo4j/neostore.nodestore.db": "nodes",
		"11Nov2021-10:00:00/tmp/hsperfdata_neo4j/4242":       "jvm",
		"11Nov2021-10:00:00/tmp/backup.log":                  "log",
		"12Nov2021-10:00:00/neo4j/neostore":                  "store",
		"12Nov2021-10:00:00/notes.txt":                       "notes",
	}
	for key, content := range written {
		put(t, srv, prefix+key, content)
	}
	put(t, srv, prefix+"12Nov2021-10:00:00/neo4j/", "")
	ctx := testContext(t)

	backups, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(backups); !slices.Equal(got, []string{"11Nov2021-10:00:00", "12Nov2021-10:00:00"}) || backups[0].Files != 4 || backups[1].Files != 2 {
		t.Fatalf("List = %+v; want two legacy backups of 4 and 2 files", backups)
	}
	for _, id := range []string{"11Nov2021-10:00:00", "12Nov2021-10:00:00"} {
		to := t.TempDir()
		b, path, err := s.Fetch(ctx, id, to, storage.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != storage.Legacy || len(b.Databases) != 0 {
			t.Errorf("Fetch(%s) = %s with databases %v; want legacy, no databases named by storage", id, b.Status, b.Databases)
		}
		got := digest(t, path)
		var want []string
		for key := range written {
			if rel, ok := strings.CutPrefix(key, id+"/"); ok {
				want = append(want, rel)
			}
		}
		if fetched := slices.Sorted(maps.Keys(got)); !slices.Equal(fetched, slices.Sorted(slices.Values(want))) {
			t.Errorf("Fetch(%s) wrote %v; want %v", id, fetched, slices.Sorted(slices.Values(want)))
		}
	}
}

func TestPrune(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	now := time.Date(2021, 11, 20, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) string { return storage.NewID(now.Add(-d)) }
	day := 24 * time.Hour
	complete := []string{ago(10 * day), ago(5 * day), ago(2 * day), ago(time.Hour)}
	incomplete := []string{ago(3 * day), ago(2 * time.Hour)} // stale, and maybe still uploading
	legacy := []string{"01Oct2021-10:00:00"}

	cases := []struct {
		name   string
		keep   string
		inUse  []string
		pruned []string
	}{
		{"by count, sparing one in use", "2", []string{ago(10 * day)},
			[]string{ago(5 * day), "01Oct2021-10:00:00", ago(3 * day)}},
		{"by age", "3d", nil,
			[]string{ago(5 * day), ago(10 * day), "01Oct2021-10:00:00", ago(3 * day)}},
		{"never the newest complete", "30m", nil,
			[]string{ago(2 * day), ago(5 * day), ago(10 * day), "01Oct2021-10:00:00", ago(3 * day)}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			s := open(t, srv, "prune/"+string(rune('a'+i)))
			history(t, srv, s, complete, incomplete, legacy)
			keep, err := storage.ParseKeep(c.keep)
			if err != nil {
				t.Fatal(err)
			}
			before := ids(t, s)
			dry, err := s.Prune(ctx, keep, storage.PruneOptions{InUse: c.inUse, DryRun: true, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(t, s); !slices.Equal(got, before) {
				t.Errorf("a dry run changed the backups from %v to %v", before, got)
			}
			removed, err := s.Prune(ctx, keep, storage.PruneOptions{InUse: c.inUse, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(dry), names(removed)) {
				t.Errorf("dry run said %v, prune removed %v", names(dry), names(removed))
			}
			want := slices.DeleteFunc(slices.Clone(before), func(id string) bool { return slices.Contains(names(removed), id) })
			if got := ids(t, s); !slices.Equal(got, want) {
				t.Errorf("after prune: %v; want %v", got, want)
			}
			gone := slices.Sorted(slices.Values(names(removed)))
			wantGone := slices.Sorted(slices.Values(c.pruned))
			if !slices.Equal(gone, wantGone) {
				t.Errorf("prune --keep %s removed %v; want %v", c.keep, gone, wantGone)
			}
			for _, b := range removed {
				objects := srv.Client().ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: s.Location().Prefix + "/" + b.ID + "/", Recursive: true})
				for obj := range objects {
					t.Errorf("object %s of removed backup %s is still there", obj.Key, b.ID)
				}
			}
		})
	}
}

func ids(t *testing.T, s *storage.Store) []string {
	t.Helper()
	backups, err := s.List(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return names(backups)
}

func names(backups []storage.Backup) []string {
	var out []string
	for _, b := range backups {
		out = append(out, b.ID)
	}
	return out
}
