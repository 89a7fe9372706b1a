package neo4j

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

func TestCheckBackup(t *testing.T) {
	const (
		v4     = "4.4.40"
		v5     = "5.26.0"
		v2025  = "2025.06.0"
		noExit = "\x00" // no exit file given
		absent = "\x01" // the exit file given, but not there
	)
	store := func(dbs ...string) map[string]string {
		files := map[string]string{}
		for _, db := range dbs {
			files[db+"/"+StoreFile] = "store of " + db
			files[db+"/neostore.nodestore.db"] = "nodes of " + db
		}
		return files
	}
	artifacts := func(dbs ...string) map[string]string {
		files := map[string]string{}
		for _, db := range dbs {
			files[db+"-2025-01-31T10-00-00.backup"] = "artifact of " + db
		}
		return files
	}
	with := func(files map[string]string, more ...string) map[string]string {
		for i := 0; i+1 < len(more); i += 2 {
			files[more[i]] = more[i+1]
		}
		return files
	}
	tests := []struct {
		name      string
		version   string // "" the zero Version: layout from the folder
		files     map[string]string
		databases []string
		exit      string
		want      []string // the databases recorded
		warnings  []string // substrings, one per warning
		err       string   // substring of the refusal
	}{
		// 4.x
		{"4.x exit 0, every folder", v4, store("neo4j", "system"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			[]string{"neo4j", "system"}, nil, ""},
		{"4.x exit 1 refused although the folder is there", v4, store("neo4j", "system"), []string{"neo4j", "system"}, "0 neo4j\n1 system\n",
			nil, nil, "neo4j-admin backup of database system failed (exit 1); see the neo4j-admin-backup container's log"},
		{"4.x exit 2: consistency check failed, uploaded with a warning", v4, store("neo4j", "system"), []string{"neo4j", "system"}, "2 neo4j\n0 system\n",
			[]string{"neo4j", "system"}, []string{"neo4j-admin backup of database neo4j succeeded but its consistency check failed to run (exit 2)"}, ""},
		{"4.x exit 3: inconsistencies, uploaded with a warning", v4, store("neo4j", "system"), []string{"neo4j", "system"}, "0 neo4j\n3 system\n",
			[]string{"neo4j", "system"}, []string{"neo4j-admin backup of database system succeeded but its consistency check found inconsistencies (exit 3)"}, ""},
		{"4.x exit 3 without the folder", v4, store("system"), []string{"neo4j", "system"}, "3 neo4j\n0 system\n",
			nil, nil, "neo4j-admin backup of database neo4j exited 3 (backup taken, consistency check not passed) but left no backup of database neo4j"},
		{"4.x exit 0, folder missing (neo4j/neo4j#13107)", v4, store("system"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			nil, nil, "neo4j-admin backup of database neo4j exited 0 but left no backup of database neo4j (a folder neo4j/ holding a store, with its neostore file)"},
		{"4.x folder without a store", v4, with(store("system"), "neo4j/debug.log", "x"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			nil, nil, "left no backup of database neo4j"},
		{"4.x a 5.x artifact is no 4.x backup", v4, with(store("system"), "neo4j-2025-01-31T10-00-00.backup", "x"), []string{"neo4j", "system"}, noExit,
			nil, nil, "has no backup of database neo4j"},
		{"4.x undocumented exit code", v4, store("neo4j"), []string{"neo4j"}, "137 neo4j\n",
			nil, nil, "neo4j-admin backup of database neo4j exited 137, which the Operations Manual does not document"},
		{"4.x mixed case asked, lower case on disk", v4, store("neo4j"), []string{"Neo4j"}, "0 Neo4j\n",
			[]string{"neo4j"}, nil, ""},

		// 5.x and calendar versions
		{"5.x exit 0, every artifact", v5, artifacts("neo4j", "system"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			[]string{"neo4j", "system"}, nil, ""},
		{"5.x exit 0, an artifact missing (neo4j/neo4j#13107)", v5, artifacts("system"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			nil, nil, "neo4j-admin database backup of database neo4j exited 0 but left no backup artifact of database neo4j (neo4j-<yyyy-MM-ddTHH-mm-ss>.backup)"},
		{"calendar exit 0 of one call, an artifact missing", v2025, artifacts("system"), []string{"neo4j", "system"}, "0 neo4j,system\n",
			nil, nil, "neo4j-admin database backup of databases neo4j, system exited 0 but left no backup artifact of database neo4j"},
		{"calendar exit 1, every artifact: a warning", v2025, artifacts("neo4j", "system"), []string{"neo4j", "system"}, "1 neo4j,system\n",
			[]string{"neo4j", "system"}, []string{"neo4j-admin database backup of databases neo4j, system exited 1 although every artifact was written: neo4j-admin reported problems, e.g. some servers uncontactable"}, ""},
		{"calendar exit 1, an artifact missing", v2025, artifacts("system"), []string{"neo4j", "system"}, "1 neo4j,system\n",
			nil, nil, "neo4j-admin database backup of databases neo4j, system failed (exit 1) and left no backup artifact of database neo4j"},
		{"5.x exit 2 is not documented", v5, artifacts("neo4j"), []string{"neo4j"}, "2 neo4j\n",
			nil, nil, "exited 2, which the Operations Manual does not document"},
		{"5.x differential artifacts count", v5, with(artifacts("system"), "neo4j-2025-01-31T10-00-00.backup", "full", "neo4j-2025-02-01T10-00-00.backup", "diff"), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			[]string{"neo4j", "system"}, nil, ""},
		{"5.x an empty artifact is none", v5, with(artifacts("system"), "neo4j-2025-01-31T10-00-00.backup", ""), []string{"neo4j", "system"}, "0 neo4j\n0 system\n",
			nil, nil, "left no backup artifact of database neo4j"},
		{"5.x a 4.x folder is no 5.x backup", v5, store("neo4j"), []string{"neo4j"}, noExit,
			nil, nil, "has no backup artifact of database neo4j"},
		{"5.x mixed case asked, lower case on disk, recorded lower case", v5, artifacts("neo4j"), []string{"Neo4j", "NEO4J"}, "0 Neo4j\n",
			[]string{"neo4j"}, nil, ""},
		{"5.x a database of another call is ignored", v5, artifacts("neo4j"), []string{"neo4j"}, "0 neo4j\n1 movies\n",
			[]string{"neo4j"}, nil, ""},

		// The exit file itself
		{"exit file missing", v5, artifacts("neo4j"), []string{"neo4j"}, absent,
			nil, nil, "neo4j-admin.exit, where neo4j-admin's exit codes are recorded, does not exist: the backup step did not run to its end"},
		{"exit file empty", v5, artifacts("neo4j"), []string{"neo4j"}, "\n",
			nil, nil, "records no neo4j-admin call"},
		{"exit file without databases", v5, artifacts("neo4j"), []string{"neo4j"}, "0\n",
			nil, nil, `line 1 "0": not an exit code and a database list`},
		{"exit file with words", v5, artifacts("neo4j"), []string{"neo4j"}, "ok neo4j\n",
			nil, nil, `line 1 "ok neo4j": "ok" is not an exit code`},
		{"exit file with an empty name", v5, artifacts("neo4j"), []string{"neo4j"}, "0 neo4j,\n",
			nil, nil, "an empty database name"},
		{"exit file silent about a database", v5, artifacts("neo4j", "system"), []string{"neo4j", "system"}, "0 neo4j\n",
			nil, nil, "neo4j-admin.exit records no neo4j-admin call for database system"},

		// Without an exit file: the folder alone
		{"no exit file, every artifact", v5, artifacts("neo4j", "system"), []string{"neo4j", "system"}, noExit,
			[]string{"neo4j", "system"}, nil, ""},
		{"no exit file, an artifact missing", v5, artifacts("system"), []string{"neo4j", "system"}, noExit,
			nil, nil, "has no backup artifact of database neo4j (neo4j-<yyyy-MM-ddTHH-mm-ss>.backup); see the neo4j-admin-backup container's log"},
		{"no version: 5.x layout from the artifacts", "", artifacts("system"), []string{"neo4j", "system"}, noExit,
			nil, nil, "has no backup artifact of database neo4j"},
		{"no version: 4.x layout from the folders", "", store("neo4j", "system"), []string{"neo4j", "system"}, noExit,
			[]string{"neo4j", "system"}, nil, ""},
		{"no version: exit codes cannot be read", "", store("neo4j"), []string{"neo4j"}, "0 neo4j\n",
			nil, nil, "give the Neo4j version"},
		{"no database asked", v5, artifacts("neo4j"), []string{" "}, noExit,
			nil, nil, "no database to check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			dir := filepath.Join(tmp, "databases")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for p, content := range tt.files {
				testfiles.Write(t, filepath.Join(dir, p), content)
			}
			exitFile := filepath.Join(tmp, "neo4j-admin.exit")
			switch tt.exit {
			case noExit:
				exitFile = ""
			case absent:
			default:
				testfiles.Write(t, exitFile, tt.exit)
			}
			var v Version
			if tt.version != "" {
				var err error
				if v, err = ParseVersion(tt.version); err != nil {
					t.Fatal(err)
				}
			}
			got, err := CheckBackup(v, dir, tt.databases, exitFile)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("CheckBackup = %+v, %v; want it refused saying %q", got, err, tt.err)
				}
				t.Logf("refused: %v", err)
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("the refusal is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckBackup refused: %v", err)
			}
			if !slices.Equal(got.Databases, tt.want) {
				t.Errorf("databases = %v; want %v", got.Databases, tt.want)
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings = %q; want %d saying %q", got.Warnings, len(tt.warnings), tt.warnings)
			}
			for _, w := range got.Warnings {
				t.Logf("warning: %s", w)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(got.Warnings[i], w) || strings.Contains(got.Warnings[i], "\n") {
					t.Errorf("warning %d = %q; want one line saying %q", i, got.Warnings[i], w)
				}
			}
		})
	}
}

func TestCheckBackupUnreadableFolder(t *testing.T) {
	v, _ := ParseVersion("5.26.0")
	_, err := CheckBackup(v, filepath.Join(t.TempDir(), "missing"), []string{"neo4j"}, "")
	if err == nil || !strings.Contains(err.Error(), "reading the backup folder") {
		t.Errorf("CheckBackup of a missing folder = %v; want an error saying it cannot be read", err)
	}
}
