package neo4j

// What `neo4j-admin database backup --inspect-path` tells of the backup
// artifacts in a folder (5.x and calendar versions; the Operations
// Manual's restore-backup.adoc, "Inspect the backup artifacts"): one row an
// artifact, in a table the manual shows as
//
//	|                                                       FILE | DATABASE |                          DATABASE ID |                TIME |  FULL | COMPRESSED | LOWEST TX | HIGHEST TX |
//	| file:///path/to/mybackups/neo4j-2023-06-29T14-46-27.backup |    neo4j | c8368b24-55e2-474d-bb41-75657f5bfcde | 2023-06-29T13:46:27 |  true |       true |         1 |         11 |
//
// The upload container reads it to record a backup's chain in its manifest
// (README "Scheduled backups").

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// InspectCommand prints the metadata of the backup artifacts in dir, or of
// the one artifact dir names.
func InspectCommand(dir string) []string {
	return []string{"neo4j-admin", "database", "backup", "--inspect-path=" + dir}
}

// InspectedArtifact is one row of the --inspect-path table.
type InspectedArtifact struct {
	Path       string // the local file, from the FILE URL
	Database   string // lower case, as Neo4j names databases
	DatabaseID string
	Time       time.Time // UTC
	Full       bool
	Compressed bool
	// LowestTx and HighestTx are the first and last transaction the
	// artifact holds; 0 and 0 for an empty differential backup.
	LowestTx, HighestTx int64
}

// Empty reports a differential artifact without transactions.
func (a InspectedArtifact) Empty() bool { return !a.Full && a.HighestTx == 0 }

// inspectColumns are the columns read, as the table heads them.
var inspectColumns = []string{"FILE", "DATABASE", "DATABASE ID", "TIME", "FULL", "COMPRESSED", "LOWEST TX", "HIGHEST TX"}

// ParseInspect reads the output of InspectCommand: the rows of its table,
// in the order printed. Lines that are not the table's (neo4j-admin's own
// log lines) are skipped; columns are found by their heading, so their
// order does not matter. A folder without artifacts prints the heading
// only: no rows, no error.
func ParseInspect(out []byte) ([]InspectedArtifact, error) {
	var col map[string]int
	var rows []InspectedArtifact
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if col == nil {
			col = map[string]int{}
			for _, name := range inspectColumns {
				i := slices.Index(cells, name)
				if i < 0 {
					return nil, fmt.Errorf("line %d of neo4j-admin's --inspect-path output has no column %s; it is not the table of backup artifacts this neo4j-backup reads", n, name)
				}
				col[name] = i
			}
			continue
		}
		if len(cells) < len(col) {
			return nil, fmt.Errorf("line %d of neo4j-admin's --inspect-path output has %d cells, the heading %d", n, len(cells), len(col))
		}
		a, err := inspectedRow(func(name string) string { return cells[col[name]] })
		if err != nil {
			return nil, fmt.Errorf("line %d of neo4j-admin's --inspect-path output: %v", n, err)
		}
		rows = append(rows, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading neo4j-admin's --inspect-path output: %v", err)
	}
	if col == nil {
		return nil, fmt.Errorf("neo4j-admin's --inspect-path output has no table of backup artifacts (FILE | DATABASE | …)")
	}
	return rows, nil
}

func inspectedRow(cell func(string) string) (InspectedArtifact, error) {
	a := InspectedArtifact{Database: strings.ToLower(cell("DATABASE")), DatabaseID: cell("DATABASE ID")}
	file := cell("FILE")
	u, err := url.Parse(file)
	switch {
	case err == nil && u.Scheme == "file":
		a.Path = u.Path
	case err == nil && u.Scheme == "":
		a.Path = file
	default:
		return a, fmt.Errorf("FILE %q is not a local file", file)
	}
	if a.Path == "" || a.Database == "" {
		return a, fmt.Errorf("no FILE or no DATABASE")
	}
	if a.Time, err = time.Parse("2006-01-02T15:04:05", cell("TIME")); err != nil {
		if a.Time, err = time.Parse(time.RFC3339Nano, cell("TIME")); err != nil {
			return a, fmt.Errorf("TIME %q is not a time like 2023-06-29T13:46:27", cell("TIME"))
		}
	}
	a.Time = a.Time.UTC()
	if a.Full, err = strconv.ParseBool(cell("FULL")); err != nil {
		return a, fmt.Errorf("FULL %q is not true or false", cell("FULL"))
	}
	if a.Compressed, err = strconv.ParseBool(cell("COMPRESSED")); err != nil {
		return a, fmt.Errorf("COMPRESSED %q is not true or false", cell("COMPRESSED"))
	}
	for name, p := range map[string]*int64{"LOWEST TX": &a.LowestTx, "HIGHEST TX": &a.HighestTx} {
		if *p, err = strconv.ParseInt(cell(name), 10, 64); err != nil || *p < 0 {
			return a, fmt.Errorf("%s %q is not a transaction ID", name, cell(name))
		}
	}
	if a.HighestTx < a.LowestTx {
		return a, fmt.Errorf("LOWEST TX %d is above HIGHEST TX %d", a.LowestTx, a.HighestTx)
	}
	return a, nil
}
