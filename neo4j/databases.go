package neo4j

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
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

// legacyFolders are where a legacy backup (README "By hand": a folder the
// old s3cmd CronJob wrote, without a manifest) holds its databases, in the
// order they are looked at: under tmp/, since `s3cmd put /tmp
// s3://…/<date>/ --recursive` keeps the uploaded folder's name, or at its
// top, where some users copied them.
var legacyFolders = []string{"tmp", ""}

// LegacyDatabases finds the databases of the legacy backup in folder dir:
// in is the folder that holds them, "tmp" (dir/tmp) or "" (dir itself), and
// databases their names, sorted. A database is a 4.x store copy (a folder
// holding a StoreFile) or a 5.x artifact, for a CronJob changed to Neo4j
// 5's backup; anything else (the rest of what was in /tmp) is ignored. It
// is an error, one line naming what there is, when neither place holds a
// database, or both do: one restore takes its databases from one folder.
func LegacyDatabases(dir string) (in string, databases []string, err error) {
	var seen []string
	found := map[string][]string{}
	for _, f := range legacyFolders {
		entries, err := os.ReadDir(filepath.Join(dir, f))
		if errors.Is(err, fs.ErrNotExist) && f != "" {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		for _, e := range entries {
			p := path.Join(f, e.Name())
			if f == "" && p == "tmp" && e.IsDir() {
				continue // looked at on its own
			}
			if db, ok := databaseAt(filepath.Join(dir, f), e); ok {
				found[f] = append(found[f], db)
				continue
			}
			if e.IsDir() {
				p += "/"
			}
			seen = append(seen, p)
		}
	}
	switch {
	case len(found["tmp"]) > 0 && len(found[""]) > 0:
		return "", nil, fmt.Errorf("it holds databases both in tmp/ (%s) and at its top (%s), and one restore takes them from one folder; remove the copy you do not want from the store",
			strings.Join(sorted(found["tmp"]), ", "), strings.Join(sorted(found[""]), ", "))
	case len(found["tmp"]) > 0:
		return "tmp", sorted(found["tmp"]), nil
	case len(found[""]) > 0:
		return "", sorted(found[""]), nil
	}
	holds := "it holds no file at all"
	if len(seen) > 0 {
		slices.Sort(seen)
		holds = "it holds only " + strings.Join(seen[:min(len(seen), 5)], ", ")
		if len(seen) > 5 {
			holds += fmt.Sprintf(" and %d more", len(seen)-5)
		}
	}
	return "", nil, fmt.Errorf("%s, no Neo4j database: a folder with a %s file (Neo4j 4) or a <database>-<yyyy-MM-ddTHH-mm-ss>.backup artifact (Neo4j 5), in tmp/ or at the top", holds, StoreFile)
}

// databaseAt names the database entry e of folder dir holds: a folder with
// a store in it (4.x), or an artifact that is not empty (5.x).
func databaseAt(dir string, e fs.DirEntry) (string, bool) {
	if e.IsDir() {
		info, err := os.Stat(filepath.Join(dir, e.Name(), StoreFile))
		return e.Name(), err == nil && info.Mode().IsRegular()
	}
	m := artifactPattern.FindStringSubmatch(e.Name())
	if m == nil {
		return "", false
	}
	info, err := e.Info()
	return m[1], err == nil && info.Mode().IsRegular() && info.Size() > 0
}

func sorted(names []string) []string {
	names = slices.Clone(names)
	slices.Sort(names)
	return slices.Compact(names)
}
