// Package neo4j knows Neo4j's version lines and the neo4j-admin command
// lines each of them takes for backup, restore and unbind, as documented in
// Neo4j's operations manual for 4.0–4.1, 4.2–4.4, 5.x and calendar versions
// (2025.01 on). It runs nothing: callers get argument vectors.
package neo4j

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a Neo4j version: 4.2.8, 5.26.0, 2025.06.0. A calendar version
// has the year as Major.
type Version struct {
	Major, Minor, Patch int
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Calendar reports a calendar version (2025.01 and later).
func (v Version) Calendar() bool { return v.Major >= 2025 }

// AtLeast reports v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

var versionPattern = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?`)

// ParseVersion reads a version from the start of s: "4.2.8", "5",
// "5.26.0-enterprise", "2025.06.0", or neo4j-admin --version's output
// ("neo4j-admin 4.4.12", "5.26.0").
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "neo4j-admin ")
	s = strings.TrimPrefix(s, "neo4j ")
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a Neo4j version", s)
	}
	v := Version{}
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	if v.Major < 4 || (v.Major > 5 && v.Major < 2025) {
		return Version{}, fmt.Errorf("Neo4j %s is not supported; neo4j-backup supports 4.x, 5.x and calendar versions (2025.01 on)", v)
	}
	return v, nil
}

// BackupCommands returns the neo4j-admin invocations that back up
// databases from the backup addresses into dir.
//
//	4.x:              neo4j-admin backup --from=A --backup-dir=DIR --database=DB   (one per database)
//	5.0–5.15:         neo4j-admin database backup --from=A,B --to-path=DIR DB      (one per database)
//	5.16+, calendar:  neo4j-admin database backup --from=A,B --to-path=DIR DB1 DB2 (one call)
//
// 4.x takes one address; the first is used.
func BackupCommands(v Version, from []string, dir string, databases []string) [][]string {
	var cmds [][]string
	switch {
	case v.Major == 4:
		for _, db := range databases {
			cmds = append(cmds, []string{"neo4j-admin", "backup", "--from=" + from[0], "--backup-dir=" + dir, "--database=" + db})
		}
	case v.AtLeast(5, 16):
		cmds = append(cmds, append([]string{"neo4j-admin", "database", "backup", "--from=" + strings.Join(from, ","), "--to-path=" + dir}, databases...))
	default:
		for _, db := range databases {
			cmds = append(cmds, []string{"neo4j-admin", "database", "backup", "--from=" + strings.Join(from, ","), "--to-path=" + dir, db})
		}
	}
	return cmds
}

// RestoreCommand returns the neo4j-admin invocation that restores database
// from a fetched backup: for 4.x the folder 4.x backup wrote for it
// (<dir>/<database>), for 5.x and calendar versions its backup artifact
// (<database>-<time>.backup); BackupPath finds either. expandCommands adds
// --expand-commands, needed when the configuration uses command expansion
// (4.2 on).
//
//	4.x:             neo4j-admin restore --from=PATH --database=DB --force
//	5.x, calendar:   neo4j-admin database restore --from-path=PATH --overwrite-destination=true DB
func RestoreCommand(v Version, from, database string, expandCommands bool) []string {
	var cmd []string
	if v.Major == 4 {
		cmd = []string{"neo4j-admin", "restore", "--from=" + from, "--database=" + database, "--force"}
	} else {
		cmd = []string{"neo4j-admin", "database", "restore", "--from-path=" + from, "--overwrite-destination=true", database}
	}
	if expandCommands && v.AtLeast(4, 2) {
		cmd = append(cmd, "--expand-commands")
	}
	return cmd
}

// UnbindCommand returns the invocation that removes a cluster member's
// cluster state so it joins as a new member after a restore.
//
//	4.x: neo4j-admin unbind       5.x, calendar: neo4j-admin server unbind
func UnbindCommand(v Version, expandCommands bool) []string {
	cmd := []string{"neo4j-admin", "server", "unbind"}
	if v.Major == 4 {
		cmd = []string{"neo4j-admin", "unbind"}
	}
	if expandCommands && v.AtLeast(4, 2) {
		cmd = append(cmd, "--expand-commands")
	}
	return cmd
}

// VersionCommand prints neo4j-admin's version on every line.
var VersionCommand = []string{"neo4j-admin", "--version"}
