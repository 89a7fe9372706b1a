package storage

import (
	"reflect"
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
		case c.err == "" && (err != nil || !reflect.DeepEqual(got, c.want)):
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
		{in: "7 days", err: "neither a count (24), an age (7d, 36h) nor a list of periods (24h,7d,4w,12m)"},
		{in: "24h,7d,4w,12m", want: Keep{Periods: []KeepPeriods{{24, Hour}, {7, Day}, {4, Week}, {12, Month}}}},
		{in: "7d, 2y", want: Keep{Periods: []KeepPeriods{{7, Day}, {2, Year}}}},
		{in: "24h,7x", err: `"7x" is not a count of periods`},
		{in: "24h,0d", err: `"0d" is not a count of periods`},
		{in: "24h,", err: `"" is not a count of periods`},
		{in: "24h,2h", err: "names hours twice"},
		{in: "", err: "neither a count"},
		{in: "d", err: "neither a count"},
	}
	for _, c := range cases {
		got, err := ParseKeep(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseKeep(%q) = %+v, %v; want an error saying %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || !reflect.DeepEqual(got, c.want)):
			t.Errorf("ParseKeep(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for in, want := range map[string]string{"7d": "7d", "36h": "36h0m0s", "24": "24", "24h, 7d,4w,12m": "24h,7d,4w,12m"} {
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
		if ids := removed(planPrune(c.in, c.keep, c.inUse, now)); !slices.Equal(ids, c.want) {
			t.Errorf("%s: planPrune removes %v; want %v", c.name, ids, c.want)
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

// removed is what a plan removes, in its order.
func removed(plan []PruneDecision) []string {
	var ids []string
	for _, d := range plan {
		if d.Remove {
			ids = append(ids, d.Backup.ID)
		}
	}
	return ids
}

// chainHistory builds a history, oldest first, from lines "ID full", "ID
// diff PARENT", "ID incomplete".
func chainHistory(t *testing.T, lines ...string) []Backup {
	t.Helper()
	var out []Backup
	for _, line := range lines {
		f := strings.Fields(line)
		tm, err := ParseID(f[0])
		if err != nil {
			t.Fatalf("bad fixture %q", line)
		}
		b := Backup{ID: f[0], Time: tm, Status: Complete, Manifest: &Manifest{BackupID: f[0], Type: TypeFull}}
		switch f[1] {
		case "incomplete":
			b.Status, b.Manifest = Incomplete, nil
		case "diff":
			b.Manifest.Type, b.Manifest.Parent = TypeDifferential, f[2]
		}
		out = append(out, b)
	}
	return out
}

// Retention keeps chains whole: a kept differential backup keeps every
// backup it builds on, down to its full backup, whatever keep says of them;
// a chain none of whose backups is kept goes whole, newest first; a
// differential backup whose parent is gone cannot be restored and goes.
func TestPlanPruneKeepsChainsWhole(t *testing.T) {
	now := time.Date(2021, 11, 20, 12, 0, 0, 0, time.UTC)
	// Two chains: full at 00:00 with differentials hourly to 03:00, full
	// at 04:00 with differentials at 05:00 and 06:00; an incomplete run.
	history := chainHistory(t,
		"2021-11-20T00:00:00Z full",
		"2021-11-20T01:00:00Z diff 2021-11-20T00:00:00Z",
		"2021-11-20T02:00:00Z diff 2021-11-20T01:00:00Z",
		"2021-11-20T03:00:00Z diff 2021-11-20T02:00:00Z",
		"2021-11-20T04:00:00Z full",
		"2021-11-20T05:00:00Z diff 2021-11-20T04:00:00Z",
		"2021-11-20T06:00:00Z diff 2021-11-20T05:00:00Z",
	)
	cases := []struct {
		name  string
		in    []Backup
		keep  Keep
		inUse []string
		want  []string          // removed, newest first
		why   map[string]string // of some kept backups, part of why
	}{
		{name: "the newest chain kept whole by a count of 1", in: history, keep: Keep{Count: 1},
			want: []string{"2021-11-20T03:00:00Z", "2021-11-20T02:00:00Z", "2021-11-20T01:00:00Z", "2021-11-20T00:00:00Z"},
			why: map[string]string{
				"2021-11-20T06:00:00Z": "the newest complete backup",
				"2021-11-20T05:00:00Z": "backup 2021-11-20T06:00:00Z builds on it",
				"2021-11-20T04:00:00Z": "backup 2021-11-20T06:00:00Z builds on it",
			}},
		{name: "a kept differential keeps its chain to the full backup", in: history, keep: Keep{Count: 1}, inUse: []string{"2021-11-20T02:00:00Z"},
			want: []string{"2021-11-20T03:00:00Z"},
			why: map[string]string{
				"2021-11-20T02:00:00Z": "in use",
				"2021-11-20T01:00:00Z": "backup 2021-11-20T02:00:00Z builds on it",
				"2021-11-20T00:00:00Z": "backup 2021-11-20T02:00:00Z builds on it",
			}},
		{name: "age keeps the chains of what is young enough", in: history, keep: Keep{Age: 7 * time.Hour},
			want: []string{"2021-11-20T03:00:00Z", "2021-11-20T02:00:00Z", "2021-11-20T01:00:00Z", "2021-11-20T00:00:00Z"}},
		{name: "age inside a chain", in: history, keep: Keep{Age: 10*time.Hour + 30*time.Minute},
			want: nil, why: map[string]string{"2021-11-20T02:00:00Z": "younger than 10h30m0s", "2021-11-20T01:00:00Z": "builds on it", "2021-11-20T00:00:00Z": "builds on it"}},
		{name: "a differential whose parent is gone cannot be restored", in: chainHistory(t,
			"2021-11-20T01:00:00Z diff 2021-11-20T00:00:00Z",
			"2021-11-20T02:00:00Z diff 2021-11-20T01:00:00Z",
			"2021-11-20T04:00:00Z full",
		), keep: Keep{Count: 5},
			want: []string{"2021-11-20T02:00:00Z", "2021-11-20T01:00:00Z"}},
		{name: "the newest restorable backup is kept behind a broken newer one", in: chainHistory(t,
			"2021-11-20T04:00:00Z full",
			"2021-11-20T06:00:00Z diff 2021-11-20T05:00:00Z",
		), keep: Keep{Count: 1},
			want: []string{"2021-11-20T06:00:00Z"}, why: map[string]string{"2021-11-20T04:00:00Z": "the newest complete backup"}},
		{name: "an incomplete parent does not make a chain", in: chainHistory(t,
			"2021-11-19T04:00:00Z full",
			"2021-11-19T05:00:00Z incomplete",
			"2021-11-19T06:00:00Z diff 2021-11-19T05:00:00Z",
		), keep: Keep{Count: 5},
			want: []string{"2021-11-19T06:00:00Z", "2021-11-19T05:00:00Z"}},
	}
	for _, c := range cases {
		plan := planPrune(c.in, c.keep, c.inUse, now)
		if ids := removed(plan); !slices.Equal(ids, c.want) {
			t.Errorf("%s: planPrune removes %v; want %v", c.name, ids, c.want)
		}
		for _, d := range plan {
			if want, ok := c.why[d.Backup.ID]; ok && (d.Remove || !strings.Contains(d.Why, want)) {
				t.Errorf("%s: %s: remove=%v because %q; want it kept because %q", c.name, d.Backup.ID, d.Remove, d.Why, want)
			}
		}
	}
}

// A list of periods keeps the newest backup of each of the last periods
// that have one, with the chains of those it keeps.
func TestPlanPruneKeepsPeriods(t *testing.T) {
	now := time.Date(2021, 11, 20, 12, 30, 0, 0, time.UTC) // a Saturday
	var lines []string
	// A full backup every day at 00:00 from 2021-10-01 and hourly
	// differentials from 09:00 to 12:00: 51 days, 5 backups a day.
	for day := time.Date(2021, 10, 1, 0, 0, 0, 0, time.UTC); !day.After(now); day = day.AddDate(0, 0, 1) {
		full := NewID(day)
		lines = append(lines, full+" full")
		parent := full
		for h := 9; h <= 12; h++ {
			id := NewID(day.Add(time.Duration(h) * time.Hour))
			lines = append(lines, id+" diff "+parent)
			parent = id
		}
	}
	history := chainHistory(t, lines...)
	keep, err := ParseKeep("3h,2d,2w,2m")
	if err != nil {
		t.Fatal(err)
	}
	plan := planPrune(history, keep, nil, now)
	var kept []string
	for i := len(plan) - 1; i >= 0; i-- {
		if !plan[i].Remove {
			kept = append(kept, plan[i].Backup.ID+" "+plan[i].Why)
		}
	}
	want := []string{
		"2021-10-31T00:00:00Z backup 2021-10-31T12:00:00Z builds on it",
		"2021-10-31T09:00:00Z backup 2021-10-31T12:00:00Z builds on it",
		"2021-10-31T10:00:00Z backup 2021-10-31T12:00:00Z builds on it",
		"2021-10-31T11:00:00Z backup 2021-10-31T12:00:00Z builds on it",
		"2021-10-31T12:00:00Z the newest of month 2021-10 (2m)",
		"2021-11-14T00:00:00Z backup 2021-11-14T12:00:00Z builds on it",
		"2021-11-14T09:00:00Z backup 2021-11-14T12:00:00Z builds on it",
		"2021-11-14T10:00:00Z backup 2021-11-14T12:00:00Z builds on it",
		"2021-11-14T11:00:00Z backup 2021-11-14T12:00:00Z builds on it",
		"2021-11-14T12:00:00Z the newest of week 2021-W45 (2w)",
		"2021-11-19T00:00:00Z backup 2021-11-19T12:00:00Z builds on it",
		"2021-11-19T09:00:00Z backup 2021-11-19T12:00:00Z builds on it",
		"2021-11-19T10:00:00Z backup 2021-11-19T12:00:00Z builds on it",
		"2021-11-19T11:00:00Z backup 2021-11-19T12:00:00Z builds on it",
		"2021-11-19T12:00:00Z the newest of day 2021-11-19 (2d)",
		"2021-11-20T00:00:00Z backup 2021-11-20T12:00:00Z builds on it",
		"2021-11-20T09:00:00Z backup 2021-11-20T12:00:00Z builds on it",
		"2021-11-20T10:00:00Z the newest of hour 2021-11-20T10h (3h)",
		"2021-11-20T11:00:00Z the newest of hour 2021-11-20T11h (3h)",
		"2021-11-20T12:00:00Z the newest complete backup",
	}
	if !slices.Equal(kept, want) {
		t.Errorf("3h,2d,2w,2m keeps, oldest first:\n%s\nwant:\n%s", strings.Join(kept, "\n"), strings.Join(want, "\n"))
	}
}

// A manifest's chain fields are refused when Upload could not have written
// them: a differential backup without an older parent, a full one with a
// parent, an unknown type, an artifact that is not a file of the backup.
func TestDecodeManifestChecksChains(t *testing.T) {
	file := `"files":[{"path":"neo4j-2021-11-11T10-00-00.backup","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]`
	artifact := `"artifacts":[{"database":"neo4j","path":"neo4j-2021-11-11T10-00-00.backup","full":false,"lowestTx":12,"highestTx":14,"time":"2021-11-11T10:00:00Z"}]`
	cases := []struct {
		fields, err string
	}{
		{`"type":"differential","parent":"2021-11-11T09:00:00Z",` + artifact, ""},
		{`"type":"full"`, ""},
		{``, ""},
		{`"type":"differential"`, "names no parent backup ID"},
		{`"type":"differential","parent":"yesterday"`, "names no parent backup ID"},
		{`"type":"differential","parent":"2021-11-11T10:00:00Z"`, "not older than the backup"},
		{`"type":"full","parent":"2021-11-11T09:00:00Z"`, "for a full backup"},
		{`"type":"incremental"`, `backup type "incremental"`},
		{`"artifacts":[{"database":"neo4j","path":"other.backup","lowestTx":1,"highestTx":2}]`, "not one of its files"},
		{`"artifacts":[{"database":"neo4j","path":"neo4j-2021-11-11T10-00-00.backup","lowestTx":5,"highestTx":2}]`, "bad database or transaction range"},
	}
	for _, c := range cases {
		data := `{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z",` + file
		if c.fields != "" {
			data += "," + c.fields
		}
		data += "}"
		_, err := decodeManifest([]byte(data), "2021-11-11T10:00:00Z")
		switch {
		case c.err == "" && err != nil:
			t.Errorf("decodeManifest(%s) = %v; want it accepted", c.fields, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("decodeManifest(%s) = %v; want an error saying %q", c.fields, err, c.err)
		}
	}
}
