package storage

// A fuzz target of the manifest decoder: a manifest is read from the store,
// which anyone who can write the bucket controls. `make fuzz` runs it for a
// bounded time after the tests; crashers found go under
// testdata/fuzz/FuzzDecodeManifest/ as regression cases.

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeManifest decodes arbitrary bytes as the manifest of backup id:
// it never panics, refuses in one line, and a manifest it accepts names
// id, lists files and folders that stay inside the backup folder and none
// inside a file (Upload could write no such manifest), and encodes to bytes
// that decode to the same manifest and encode the same again.
func FuzzDecodeManifest(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	id := "2021-11-11T10:00:00Z"
	f.Add([]byte(`{
  "formatVersion": 1,
  "backupId": "2021-11-11T10:00:00Z",
  "startTime": "2021-11-11T10:00:00Z",
  "endTime": "2021-11-11T10:04:31Z",
  "neo4jVersion": "5.26.0",
  "databases": ["neo4j", "system"],
  "warnings": ["neo4j-admin backup of database neo4j succeeded but its consistency check found inconsistencies (exit 3)"],
  "files": [
    {"path": "neo4j-2021-11-11T10-00-00.backup", "size": 7906687, "sha256": "`+sum+`"},
    {"path": "system-2021-11-11T10-00-00.backup", "size": 0, "sha256": "`+sum+`"},
    {"path": "server-1/neo4j/neostore.nodestore.db", "size": 16777216, "sha256": "`+sum+`"}
  ]
}`), id)
	f.Add([]byte(`{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","databases":["neo4j"],"files":[]}`), id)
	f.Add([]byte(`{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","databases":[],"warnings":[],"folders":["neo4j/schema/index","system/tx"],"files":[{"path":"neo4j/neostore","size":3,"sha256":"`+sum+`"}]}`), id)
	f.Add([]byte(`{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","startTime":"2021-11-11T12:00:00.5+02:00","databases":null,"files":null}`), id)
	f.Add([]byte(`{"formatVersion":1,"backupId":"11Nov2021-10:00:00","files":[{"path":"b","size":1,"sha256":"`+sum+`"},{"path":"a","size":2,"sha256":"`+sum+`"}]}`), "11Nov2021-10:00:00")
	for _, p := range []string{"../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "", "manifest.json", ".."} {
		f.Add([]byte(`{"formatVersion":1,"backupId":"2021-11-11T10:00:00Z","files":[{"path":"`+p+`","size":1,"sha256":"`+sum+`"}]}`), id)
	}
	f.Add([]byte(`{"formatVersion":2,"backupId":"2021-11-11T10:00:00Z"}`), id)
	f.Add([]byte(`not json`), id)
	f.Fuzz(checkManifest)
}

// FuzzManifestPaths decodes manifests that list the files file and other
// and the folder folder, checked as in FuzzDecodeManifest: the paths a
// manifest may name, which changing bytes of JSON reaches slowly.
func FuzzManifestPaths(f *testing.F) {
	for _, s := range [][3]string{
		{"neo4j-2021-11-11T10-00-00.backup", "system-2021-11-11T10-00-00.backup", "neo4j/schema"},
		{"server-1/neo4j/neostore", "server-1/neo4j/neostore.id", "server-1/system/tx"},
		{"a", "b/c", "b/d/e"},
		{"../escape", "a//b", "./a"},
		{"manifest.json", "x/manifest.json", "manifest.json"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	sum := strings.Repeat("0f", 32)
	f.Fuzz(func(t *testing.T, file, other, folder string) {
		data, err := json.Marshal(map[string]any{
			"formatVersion": FormatVersion, "backupId": "2021-11-11T10:00:00Z",
			"files":   []ManifestFile{{Path: file, Size: 1, SHA256: sum}, {Path: other, Size: 2, SHA256: sum}},
			"folders": []string{folder},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkManifest(t, data, "2021-11-11T10:00:00Z")
	})
}

// checkManifest decodes data as the manifest of backup id, with the checks
// of FuzzDecodeManifest.
func checkManifest(t *testing.T, data []byte, id string) {
	m, err := decodeManifest(data, id)
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "\n") {
			t.Errorf("the error is more than one line: %q", msg)
		}
		return
	}
	if m.BackupID != id || m.FormatVersion != FormatVersion {
		t.Errorf("accepted a manifest of backup %q, format %d, in folder %q", m.BackupID, m.FormatVersion, id)
	}
	dir := filepath.Join(string(filepath.Separator), "stage", "backup") // where fetch would write it; only paths are joined
	for _, file := range m.Files {
		if p := filepath.Join(dir, filepath.FromSlash(file.Path)); !strings.HasPrefix(p, dir+string(filepath.Separator)) || p == filepath.Join(dir, ManifestName) {
			t.Errorf("accepted file %q, which fetch would write at %s, not inside the backup folder %s", file.Path, p, dir)
		}
	}
	for _, folder := range m.Folders {
		if p := filepath.Join(dir, filepath.FromSlash(folder)); !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Errorf("accepted folder %q, which fetch would make at %s, not inside the backup folder %s", folder, p, dir)
		}
	}
	for _, file := range m.Files {
		for _, other := range m.Files {
			if strings.HasPrefix(other.Path, file.Path+"/") {
				t.Errorf("accepted file %q and file %q inside it: fetch cannot write both", file.Path, other.Path)
			}
		}
		for _, folder := range m.Folders {
			if strings.HasPrefix(folder, file.Path+"/") {
				t.Errorf("accepted file %q and folder %q inside it: fetch cannot write both", file.Path, folder)
			}
		}
	}
	encoded, err := encodeManifest(m) // sorts m.Files, as every manifest written is
	if err != nil {
		t.Fatalf("an accepted manifest does not encode: %v", err)
	}
	again, err := decodeManifest(encoded, id)
	if err != nil {
		t.Fatalf("the manifest encoded from an accepted one is refused: %v\n%s", err, encoded)
	}
	if !sameManifest(m, again) {
		t.Errorf("a round trip changed the manifest:\n%+v\n%+v", m, again)
	}
	if twice, err := encodeManifest(again); err != nil || !bytes.Equal(twice, encoded) {
		t.Errorf("encoding the decoded manifest again gives other bytes (%v):\n%s\n%s", err, encoded, twice)
	}
}

// sameManifest compares manifests field by field, times as instants at the
// same offset from UTC (a decoded time's location is a fresh value), an
// empty list as none (an empty omitempty list is not written).
func sameManifest(a, b *Manifest) bool {
	sameTime := func(x, y time.Time) bool {
		_, xo := x.Zone()
		_, yo := y.Zone()
		return x.Equal(y) && xo == yo
	}
	if !sameTime(a.StartTime, b.StartTime) || !sameTime(a.EndTime, b.EndTime) {
		return false
	}
	x, y := *a, *b
	x.StartTime, x.EndTime, y.StartTime, y.EndTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(emptyListsAsNone(x), emptyListsAsNone(y))
}

func emptyListsAsNone(m Manifest) Manifest {
	v := reflect.ValueOf(&m).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice && f.Len() == 0 {
			f.SetZero()
		}
	}
	return m
}
