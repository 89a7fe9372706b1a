package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

var updateList = flag.Bool("update-list", false, "rewrite testdata/list/*")

// chainBackups is a location as List returns it: legacy and full backups of
// earlier releases, a chain of a full and two differential backups, a
// differential backup whose parent is gone, and an upload that died.
func chainBackups() []storage.Backup {
	at := func(h, m int) time.Time { return time.Date(2021, 11, 11, h, m, 0, 0, time.UTC) }
	complete := func(t time.Time, m storage.Manifest) storage.Backup {
		m.BackupID = storage.NewID(t)
		return storage.Backup{ID: m.BackupID, Time: t, Status: storage.Complete, Size: 1 << 20, Files: 2, Databases: []string{"neo4j", "system"}, Manifest: &m}
	}
	return []storage.Backup{
		{ID: "11Nov2021-08:00:00", Time: at(8, 0), Status: storage.Legacy, Size: 3, Files: 1},
		complete(at(9, 0), storage.Manifest{Neo4jVersion: "5.26.0"}),
		complete(at(10, 0), storage.Manifest{Neo4jVersion: "5.26.0", Type: storage.TypeFull}),
		complete(at(11, 0), storage.Manifest{Neo4jVersion: "5.26.0", Type: storage.TypeDifferential, Parent: "2021-11-11T10:00:00Z"}),
		complete(at(12, 0), storage.Manifest{Neo4jVersion: "5.26.0", Type: storage.TypeDifferential, Parent: "2021-11-11T11:00:00Z"}),
		complete(at(14, 0), storage.Manifest{Neo4jVersion: "5.26.0", Type: storage.TypeDifferential, Parent: "2021-11-11T13:00:00Z"}),
		{ID: "2021-11-11T15:00:00Z", Time: at(15, 0), Status: storage.Incomplete, Size: 512, Files: 1},
	}
}

// list shows each backup's type and parent, a broken chain as such, and the
// restore window: from the oldest complete backup to the newest one whose
// chain is whole (not the differential backup without its parent). -o json
// and -o yaml carry the same, each differential backup with its chain.
func TestListChains(t *testing.T) {
	var table, asJSON, asYAML bytes.Buffer
	if err := writeTable(&table, chainBackups()); err != nil {
		t.Fatal(err)
	}
	if err := writeListed(&asJSON, "json", chainBackups()); err != nil {
		t.Fatal(err)
	}
	if err := writeListed(&asYAML, "yaml", chainBackups()); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"chains.txt": table.Bytes(), "chains.json": asJSON.Bytes(), "chains.yaml": asYAML.Bytes()} {
		golden := filepath.Join("testdata", "list", name)
		if *updateList {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v; run go test ./cmd/neo4j-backup -run TestListChains -update-list", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	var listed []listedBackup
	if err := json.Unmarshal(asJSON.Bytes(), &listed); err != nil {
		t.Fatal(err)
	}
	if oldest, newest := restorePoints(listed); oldest != "2021-11-11T09:00:00Z" || newest != "2021-11-11T12:00:00Z" {
		t.Errorf("restore points from -o json: %s to %s; want 2021-11-11T09:00:00Z to 2021-11-11T12:00:00Z", oldest, newest)
	}
}

// A location with no restorable backup says so instead of a window.
func TestListWindowWithoutRestorePoints(t *testing.T) {
	var table bytes.Buffer
	all := chainBackups()
	if err := writeTable(&table, []storage.Backup{all[0], all[5], all[6]}); err != nil {
		t.Fatal(err)
	}
	if got := table.String(); !bytes.HasSuffix(table.Bytes(), []byte("\nrestore window: none (no complete backup with its whole chain)\n")) {
		t.Errorf("table:\n%s\nwant it to end saying there is no restore window", got)
	}
}
