package neo4j

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// store4 is the files of a 4.x store copy of a database, as neo4j-admin
// backup --backup-dir writes them (a subset of Neo4j's store files).
func store4(folder string) map[string]string {
	files := map[string]string{}
	for _, f := range []string{StoreFile, "neostore.nodestore.db", "neostore.nodestore.db.id", "neostore.relationshipstore.db", "neostore.transaction.db.0", "schema/index/token-lookup-1/index-1"} {
		files[folder+"/"+f] = "store " + f
	}
	return files
}

func join(trees ...map[string]string) map[string]string {
	all := map[string]string{}
	for _, t := range trees {
		for k, v := range t {
			all[k] = v
		}
	}
	return all
}

// A legacy backup holds its databases where the old s3cmd CronJob put them:
// under tmp/ (s3cmd put /tmp keeps the folder's name) or at the top; the
// rest of what was in /tmp is not a database.
func TestLegacyDatabases(t *testing.T) {
	junk := map[string]string{
		"tmp/hsperfdata_neo4j/4242": "jvm",
		"tmp/backup.log":            "log",
		"tmp/neo4j.conf.bak":        "conf",
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
		in    string
		want  []string
		err   string // a part of the error, when one is wanted
	}{
		{name: "the CronJob's tmp/, with junk", files: join(store4("tmp/neo4j"), store4("tmp/system"), junk), in: "tmp", want: []string{"neo4j", "system"}},
		{name: "copied to the top", files: join(store4("neo4j"), store4("system"), map[string]string{"notes.txt": "x"}), in: "", want: []string{"neo4j", "system"}},
		{name: "one database", files: store4("tmp/movies"), in: "tmp", want: []string{"movies"}},
		{name: "a folder without a store is junk", files: join(store4("tmp/neo4j"), map[string]string{"tmp/system/messages.log": "x"}), in: "tmp", want: []string{"neo4j"}},
		{name: "5.x artifacts at the top", files: map[string]string{"neo4j-2023-06-29T14-51-33.backup": "tar", "system-2023-06-29T14-51-35.backup": "tar", "x.log": "x"}, in: "", want: []string{"neo4j", "system"}},
		{name: "5.x artifacts in tmp/", files: map[string]string{"tmp/neo4j-2023-06-29T14-51-33.backup": "tar", "tmp/neo4j-2023-06-30T14-51-33.backup": "tar"}, in: "tmp", want: []string{"neo4j"}},
		{name: "an empty artifact is none", files: map[string]string{"neo4j-2023-06-29T14-51-33.backup": ""},
			err: "it holds only neo4j-2023-06-29T14-51-33.backup, no Neo4j database"},
		{name: "junk only", files: junk,
			err: "it holds only tmp/backup.log, tmp/hsperfdata_neo4j/, tmp/neo4j.conf.bak, no Neo4j database: a folder with a neostore file (Neo4j 4)"},
		{name: "one level too deep", files: store4("tmp/tmp/neo4j"), err: "it holds only tmp/tmp/, no Neo4j database"},
		{name: "many things", files: map[string]string{"a": "", "b": "", "c": "", "d": "", "e": "", "f": "", "g": ""}, err: "it holds only a, b, c, d, e and 2 more, no Neo4j database"},
		{name: "nothing", files: map[string]string{}, err: "it holds no file at all"},
		{name: "both places", files: join(store4("neo4j"), store4("tmp/neo4j"), store4("tmp/system")),
			err: "it holds databases both in tmp/ (neo4j, system) and at its top (neo4j)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			testfiles.WriteAll(t, dir, tt.files)
			in, dbs, err := LegacyDatabases(dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Errorf("LegacyDatabases = %q, %v, %v; want one line saying %q", in, dbs, err, tt.err)
				}
				return
			}
			if err != nil || in != tt.in || !slices.Equal(dbs, tt.want) {
				t.Errorf("LegacyDatabases = %q, %v, %v; want %q, %v", in, dbs, err, tt.in, tt.want)
			}
		})
	}
}

func TestLegacyDatabasesOfAMissingFolder(t *testing.T) {
	if _, _, err := LegacyDatabases(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LegacyDatabases of a missing folder: no error")
	}
}
