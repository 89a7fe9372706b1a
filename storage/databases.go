package storage

import (
	"regexp"
	"slices"
	"strings"
)

// neo4j5Backup matches the artifact name of Neo4j 5 and later:
// <database>-<yyyy-MM-ddTHH-mm-ss>.backup, full or differential.
var neo4j5Backup = regexp.MustCompile(`^(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.backup$`)

// inferDatabases names the databases in a backup folder from its file paths
// (relative, slash-separated):
//
//   - Neo4j 5 and later write one <database>-<timestamp>.backup file per
//     database and backup; any such file, at any depth, names its database.
//   - Neo4j 4 writes one folder per database (--backup-dir=DIR --database=NAME
//     makes DIR/NAME/); without .backup files, every top-level folder is a
//     database.
//
// Callers that know better pass the list themselves.
func inferDatabases(paths []string) []string {
	var dbs []string
	for _, p := range paths {
		name := p[strings.LastIndex(p, "/")+1:]
		if m := neo4j5Backup.FindStringSubmatch(name); m != nil {
			dbs = append(dbs, m[1])
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
