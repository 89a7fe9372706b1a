package storage

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLocation(t *testing.T) {
	cases := []struct {
		in   string
		want Location
		err  string
	}{
		{in: "s3://backups", want: Location{Bucket: "backups"}},
		{in: "s3://backups/", want: Location{Bucket: "backups"}},
		{in: "s3://backups/prod/neo4j/", want: Location{Bucket: "backups", Prefix: "prod/neo4j"}},
		{in: "s3://my.bucket-1/a", want: Location{Bucket: "my.bucket-1", Prefix: "a"}},
		{in: "backups/prod", err: "is not an S3 location; write it as s3://bucket/prefix"},
		{in: "https://backups/prod", err: "is not an S3 location"},
		{in: "s3://", err: "names no bucket"},
		{in: "s3:///prod", err: "names no bucket"},
		{in: "s3://ab/prod", err: "is not a valid bucket name"},
		{in: "s3://bad bucket/prod", err: "is not a valid bucket name"},
		{in: "s3://backups/a//b", err: "empty"},
		{in: "s3://backups/a/../b", err: `".."`},
	}
	for _, c := range cases {
		got, err := ParseLocation(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseLocation(%q) = %v, %v; want an error saying %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if got := (Location{Bucket: "b", Prefix: "p/q"}).String(); got != "s3://b/p/q" {
		t.Errorf("String() = %s", got)
	}
}

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		in     string
		host   string
		secure bool
		err    string
	}{
		{in: "minio.example.com", host: "minio.example.com", secure: true},
		{in: "minio.example.com:9000", host: "minio.example.com:9000", secure: true},
		{in: "http://127.0.0.1:9000", host: "127.0.0.1:9000"},
		{in: "http://minio:9000/", host: "minio:9000"},
		{in: "https://nyc3.digitaloceanspaces.com", host: "nyc3.digitaloceanspaces.com", secure: true},
		{in: "", err: "is not an S3 endpoint"},
		{in: "s3://bucket/prefix", err: "is not an S3 endpoint; write it as host[:port]"},
		{in: "http://minio:9000/bucket", err: "the bucket goes in s3://bucket/prefix"},
		{in: "http://", err: "is not an S3 endpoint"},
		{in: "https://s3.example.com?x=1", err: "is not an S3 endpoint"},
		{in: "https://s3.example.com#x", err: "is not an S3 endpoint"},
		{in: "https://user@s3.example.com", err: "is not an S3 endpoint"},
	}
	for _, c := range cases {
		u, err := ParseEndpoint(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want an error saying %q", c.in, u, err, c.err)
		case c.err == "" && (err != nil || u.Host != c.host || (u.Scheme == "https") != c.secure):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %s, secure %v", c.in, u, err, c.host, c.secure)
		}
	}
}

func TestParseKeep(t *testing.T) {
	cases := []struct {
		in   string
		want Keep
		err  string
	}{
		{in: "24", want: Keep{Count: 24}},
		{in: "1", want: Keep{Count: 1}},
		{in: "7d", want: Keep{Age: 7 * 24 * time.Hour}},
		{in: "36h", want: Keep{Age: 36 * time.Hour}},
		{in: "1d12h", want: Keep{Age: 36 * time.Hour}},
		{in: "90m", want: Keep{Age: 90 * time.Minute}},
		{in: "0", err: "keep at least 1"},
		{in: "-3", err: "keep at least 1"},
		{in: "0d", err: "neither a count"},
		{in: "7 days", err: "neither a count (24) nor an age (7d, 36h)"},
		{in: "", err: "neither a count"},
		{in: "d", err: "neither a count"},
	}
	for _, c := range cases {
		got, err := ParseKeep(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseKeep(%q) = %+v, %v; want an error saying %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseKeep(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for in, want := range map[string]string{"7d": "7d", "36h": "36h0m0s", "24": "24"} {
		k, _ := ParseKeep(in)
		if k.String() != want {
			t.Errorf("ParseKeep(%q).String() = %s; want %s", in, k, want)
		}
	}
}

// backups builds a history, oldest first, from "ID status" lines.
func backups(t *testing.T, lines ...string) []Backup {
	t.Helper()
	var out []Backup
	for _, line := range lines {
		id, status, _ := strings.Cut(line, " ")
		tm, legacy, ok := parseFolderName(id)
		if !ok || legacy != (status == string(Legacy)) {
			t.Fatalf("bad fixture %q", line)
		}
		out = append(out, Backup{ID: id, Time: tm, Status: Status(status)})
	}
	return out
}

func TestResolve(t *testing.T) {
	history := backups(t,
		"01Nov2021-10:00:00 legacy",
		"2021-11-10T10:00:00Z complete",
		"2021-11-11T10:00:00Z complete",
		"2021-11-12T10:00:00Z incomplete",
	)
	cases := []struct {
		at   string
		in   []Backup
		want string
		err  string
	}{
		{at: "latest", in: history, want: "2021-11-11T10:00:00Z"},
		{at: "2021-11-10T10:00:00Z", in: history, want: "2021-11-10T10:00:00Z"},
		{at: "2021-11-10T10:00:01Z", in: history, want: "2021-11-10T10:00:00Z"},
		{at: "2021-11-11T09:59:59.5Z", in: history, want: "2021-11-10T10:00:00Z"},
		{at: "2021-11-11T11:00:00+01:00", in: history, want: "2021-11-11T10:00:00Z"},
		{at: "2030-01-01T00:00:00Z", in: history, want: "2021-11-11T10:00:00Z"},
		{at: "01Nov2021-10:00:00", in: history, want: "01Nov2021-10:00:00"},
		{at: "2021-11-12T10:00:00Z", in: history, err: "is incomplete"},
		{at: "2021-11-01T10:00:00Z", in: history, err: "no complete backup at or before 2021-11-01T10:00:00Z in s3://b/p (the oldest complete backup is 2021-11-10T10:00:00Z)"},
		{at: "02Nov2021-10:00:00", in: history, err: "there is no backup named 02Nov2021-10:00:00"},
		{at: "", in: history, err: `"" is not "latest"`},
		{at: "11/11/2021", in: history, err: "is not \"latest\", a backup ID"},
		{at: "latest", in: nil, err: "no complete backup in s3://b/p (it is empty; check the location)"},
		{at: "latest", in: history[3:], err: "(1 incomplete: their uploads died or are still running)"},
		{at: "latest", in: history[:1], err: "restore a legacy backup by its exact name"},
	}
	for _, c := range cases {
		b, err := resolve(c.in, c.at, Location{Bucket: "b", Prefix: "p"})
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("resolve(%q) = %s, %v; want an error saying %q", c.at, b.ID, err, c.err)
		case c.err == "" && (err != nil || b.ID != c.want):
			t.Errorf("resolve(%q) = %s, %v; want %s", c.at, b.ID, err, c.want)
		}
	}
}

func TestSelectForPrune(t *testing.T) {
	now := time.Date(2021, 11, 20, 12, 0, 0, 0, time.UTC)
	history := backups(t,
		"01Oct2021-10:00:00 legacy",
		"2021-11-10T12:00:00Z complete",   // 10 days
		"2021-11-15T12:00:00Z complete",   // 5 days
		"2021-11-18T12:00:00Z incomplete", // 2 days: stale
		"2021-11-19T12:00:00Z complete",   // 1 day
		"2021-11-20T10:00:00Z complete",   // 2 hours
		"2021-11-20T11:00:00Z incomplete", // 1 hour: maybe still uploading
	)
	cases := []struct {
		name  string
		in    []Backup
		keep  Keep
		inUse []string
		want  []string
	}{
		{name: "count", in: history, keep: Keep{Count: 2},
			want: []string{"2021-11-18T12:00:00Z", "2021-11-15T12:00:00Z", "2021-11-10T12:00:00Z", "01Oct2021-10:00:00"}},
		{name: "count spares what is in use", in: history, keep: Keep{Count: 2}, inUse: []string{"2021-11-10T12:00:00Z", "2021-11-18T12:00:00Z"},
			want: []string{"2021-11-15T12:00:00Z", "01Oct2021-10:00:00"}},
		{name: "count above what there is", in: history, keep: Keep{Count: 100},
			want: []string{"2021-11-18T12:00:00Z"}},
		{name: "age", in: history, keep: Keep{Age: 3 * 24 * time.Hour},
			want: []string{"2021-11-18T12:00:00Z", "2021-11-15T12:00:00Z", "2021-11-10T12:00:00Z", "01Oct2021-10:00:00"}},
		{name: "age never takes the newest complete", in: history[:3], keep: Keep{Age: time.Hour},
			want: []string{"2021-11-10T12:00:00Z", "01Oct2021-10:00:00"}},
		{name: "newest complete is kept even behind newer legacy ones", in: backups(t, "2021-11-01T00:00:00Z complete", "19Nov2021-00:00:00 legacy"), keep: Keep{Count: 1},
			want: nil},
		{name: "nothing", in: nil, keep: Keep{Count: 1}, want: nil},
	}
	for _, c := range cases {
		got := selectForPrune(c.in, c.keep, c.inUse, now)
		var ids []string
		for _, b := range got {
			ids = append(ids, b.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: selectForPrune = %v; want %v", c.name, ids, c.want)
		}
	}
}

func TestDecodeManifestRefusesUnsafePaths(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for _, path := range []string{"../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "", "manifest.json", ".."} {
		data := `{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","files":[{"path":"` + path + `","size":1,"sha256":"` + sum + `"}]}`
		if _, err := decodeManifest([]byte(data), "2021-11-11T10:00:00Z"); err == nil {
			t.Errorf("decodeManifest accepted file path %q", path)
		}
	}
	for data, want := range map[string]string{
		`{"formatVersion":2,"backupId":"2021-11-11T10:00:00Z"}`: "use a newer release",
		`{"formatVersion":1,"backupId":"2021-11-12T10:00:00Z"}`: "lies in folder",
		`not json`: "not valid JSON",
	} {
		if _, err := decodeManifest([]byte(data), "2021-11-11T10:00:00Z"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("decodeManifest(%s) = %v; want an error saying %q", data, err, want)
		}
	}
}

// Warnings came within format version 1: a manifest written before them
// reads as one without warnings, and they survive a round trip.
func TestManifestWarnings(t *testing.T) {
	old := `{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","databases":["neo4j"],"files":[]}`
	m, err := decodeManifest([]byte(old), "2021-11-11T10:00:00Z")
	if err != nil || len(m.Warnings) != 0 {
		t.Fatalf("decodeManifest of a manifest without warnings = %+v, %v", m, err)
	}
	if data, _ := encodeManifest(m); strings.Contains(string(data), "warnings") {
		t.Errorf("a manifest without warnings is written with a warnings field:\n%s", data)
	}
	m.Warnings = []string{"neo4j-admin backup of database neo4j succeeded but its consistency check found inconsistencies (exit 3)"}
	data, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := decodeManifest(data, "2021-11-11T10:00:00Z")
	if err != nil || !slices.Equal(again.Warnings, m.Warnings) || again.FormatVersion != 1 {
		t.Errorf("round trip of %s = %+v, %v; want the warning back, format version 1", data, again, err)
	}
}

func TestIDs(t *testing.T) {
	if id := NewID(time.Date(2021, 11, 11, 11, 0, 0, 999, time.FixedZone("CET", 3600))); id != "2021-11-11T10:00:00Z" {
		t.Errorf("NewID = %s", id)
	}
	for _, bad := range []string{"2021-11-11T10:00:00+01:00", "2021-11-11T10:00:00.5Z", "2021-11-11", "11Nov2021-10:00:00"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted it", bad)
		}
	}
}
