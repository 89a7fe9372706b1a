package neo4j

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// artifactPattern is the name of a backup artifact of Neo4j 5 and later,
// full or differential: <database>-<yyyy-MM-ddTHH-mm-ss>.backup.
var artifactPattern = regexp.MustCompile(`^(.+)-([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2})\.backup$`)

// DatabaseOf names the database a top-level entry of a backup folder holds:
// a 4.x folder is named after its database, a 5.x artifact starts with it.
// ok is false for anything else.
func DatabaseOf(name string, isDir bool) (database string, ok bool) {
	if isDir {
		return name, true
	}
	if m := artifactPattern.FindStringSubmatch(name); m != nil {
		return m[1], true
	}
	return "", false
}

// Databases names the databases of a backup from its file paths (relative,
// slash-separated), sorted:
//
//   - Neo4j 5 and later write one <database>-<timestamp>.backup file per
//     database and backup; any such file, at any depth, names its database.
//   - Neo4j 4 writes one folder per database (--backup-dir=DIR
//     --database=NAME makes DIR/NAME/); without .backup files, every
//     top-level folder is a database.
func Databases(paths []string) []string {
	var dbs []string
	for _, p := range paths {
		if db, ok := DatabaseOf(p[strings.LastIndex(p, "/")+1:], false); ok {
			dbs = append(dbs, db)
		}
	}
	if len(dbs) == 0 {
		for _, p := range paths {
			if folder, _, ok := strings.Cut(p, "/"); ok {
				dbs = append(dbs, folder)
			}
		}
	}
	slices.Sort(dbs)
	return slices.Compact(dbs)
}

// DatabasesIn names the databases of the backup in folder dir, as Databases
// does from the paths of its files.
func DatabasesIn(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		paths = append(paths, filepath.ToSlash(rel))
		return err
	})
	return Databases(paths), err
}
