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

func (v Version) String() string {
	if v.Calendar() {
		return fmt.Sprintf("%d.%02d.%d", v.Major, v.Minor, v.Patch) // as Neo4j writes them: 2025.06.0
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

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

// BackupCall is one neo4j-admin invocation of a backup and the databases
// it backs up.
type BackupCall struct {
	Args      []string
	Databases []string
}

// BackupType is the --type of a 5.x or calendar-version backup
// (backup-restore/online-backup.adoc): FULL copies the whole store, DIFF
// only the transactions after the newest artifact of the database already
// in --to-path, and fails without one. 4.x has no types: every backup there
// is a full one.
type BackupType string

const (
	BackupAuto BackupType = ""     // no --type: neo4j-admin's default, AUTO
	BackupFull BackupType = "FULL" // a new chain
	BackupDiff BackupType = "DIFF" // on top of the chain's newest artifact in the folder
)

// BackupCommands returns the neo4j-admin invocations that back up
// databases from the backup addresses into dir, with a page cache of
// pageCache (a Neo4j size like 512m; "" leaves neo4j-admin's default),
// of neo4j-admin's default type (BackupCommandsOfType).
func BackupCommands(v Version, from []string, dir string, databases []string, pageCache string) []BackupCall {
	return BackupCommandsOfType(v, BackupAuto, from, dir, databases, pageCache)
}

// BackupCommandsOfType is BackupCommands with --type=typ on 5.x and
// calendar versions (none for BackupAuto); 4.x takes no type.
//
//	4.x:              neo4j-admin backup --from=A --backup-dir=DIR --database=DB --pagecache=P   (one per database)
//	5.0–5.15:         neo4j-admin database backup --from=A,B --to-path=DIR --type=T --pagecache=P DB      (one per database)
//	5.16+, calendar:  neo4j-admin database backup --from=A,B --to-path=DIR --type=T --pagecache=P DB1 DB2 (one call)
//
// 4.x takes one address; the first is used.
func BackupCommandsOfType(v Version, typ BackupType, from []string, dir string, databases []string, pageCache string) []BackupCall {
	var opts []string
	if typ != BackupAuto && v.Major != 4 {
		opts = append(opts, "--type="+string(typ))
	}
	if pageCache != "" {
		opts = append(opts, "--pagecache="+pageCache)
	}
	var calls []BackupCall
	switch {
	case v.Major == 4:
		for _, db := range databases {
			args := append([]string{"neo4j-admin", "backup", "--from=" + from[0], "--backup-dir=" + dir, "--database=" + db}, opts...)
			calls = append(calls, BackupCall{Args: args, Databases: []string{db}})
		}
	case v.AtLeast(5, 16):
		args := append(append([]string{"neo4j-admin", "database", "backup", "--from=" + strings.Join(from, ","), "--to-path=" + dir}, opts...), databases...)
		calls = append(calls, BackupCall{Args: args, Databases: databases})
	default:
		for _, db := range databases {
			args := append(append([]string{"neo4j-admin", "database", "backup", "--from=" + strings.Join(from, ","), "--to-path=" + dir}, opts...), db)
			calls = append(calls, BackupCall{Args: args, Databases: []string{db}})
		}
	}
	return calls
}

// Chains reports whether the version line takes differential backups
// (5.x and calendar versions; 4.x backups are all full ones).
func (v Version) Chains() bool { return v.Major != 4 }

// HeapSizeEnv sets the maximum heap of a neo4j-admin run ("Takes a number
// and a unit, for example 512m": the environment variables of
// tools/neo4j-admin/index.adoc, 4.x and 5.x; neo4j-admin-neo4j-cli.adoc in
// calendar versions). JAVA_OPTS would override it, so it is left unset.
const HeapSizeEnv = "HEAP_SIZE"

// BackupMemory is how the backup client splits a container memory limit of
// limit bytes: HEAP_SIZE and --pagecache, as Neo4j sizes ("1024m"). The
// Operations Manual configures the backup client's memory with exactly
// these two (backup-restore/online-backup.adoc, "Memory configuration", on
// every line from 4.0 to the calendar versions: "HEAP_SIZE configures the
// maximum heap size allocated for the backup process"; "the page cache
// size can be configured by using the --pagecache option", default 8MB
// on 4.x). Half the limit goes to the heap, which 4.x's consistency check
// after the backup needs most; a quarter to the page cache, which the
// backup store is written and recovered through; the last quarter is the
// JVM's own (metaspace, threads, direct buffers of the transfer), so the
// container stays under its limit.
func BackupMemory(limit int64) (heap, pageCache string) {
	mib := limit >> 20
	return fmt.Sprintf("%dm", mib/2), fmt.Sprintf("%dm", mib/4)
}

// RestoreCommand returns the neo4j-admin invocation that restores database
// from a fetched backup: for 4.x the folder 4.x backup wrote for it
// (<dir>/<database>), for 5.x and calendar versions its backup artifact
// (<database>-<time>.backup); BackupPath finds either. expandCommands adds
// --expand-commands, needed when the configuration uses command expansion
// (documented for restore and unbind from 4.3; 4.2 has it only for import).
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
	if expandCommands && v.AtLeast(4, 3) {
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
	if expandCommands && v.AtLeast(4, 3) {
		cmd = append(cmd, "--expand-commands")
	}
	return cmd
}

// UnbindSystemDBCommand returns the invocation that removes a 5.x or
// calendar-version cluster server's cluster state of the system database
// only, so that the server binds to the system database restored on every
// server (clustering/unbind-system-database.adoc, 5.0 on; there is none in
// 4.x).
//
//	5.x, calendar: neo4j-admin dbms unbind-system-db
func UnbindSystemDBCommand(expandCommands bool) []string {
	cmd := []string{"neo4j-admin", "dbms", "unbind-system-db"}
	if expandCommands {
		cmd = append(cmd, "--expand-commands")
	}
	return cmd
}

// VersionCommand prints neo4j-admin's version on every line.
var VersionCommand = []string{"neo4j-admin", "--version"}
