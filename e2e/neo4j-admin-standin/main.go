// Command neo4j-admin-standin stands in for Neo4j Enterprise's neo4j-admin in
// tests and the demo, where no Neo4j Enterprise can run. It is built as
// "neo4j-admin" and put on the PATH of the containers that run a Neo4j image.
//
// It is a witness: it accepts exactly the options the Operations Manual of
// the version it plays documents for backup, restore, unbind, the
// consistency check (check.go) and --version,
// validates their values where the manual says what they may be, and
// refuses anything else (exit 2), as the real one does; options take their
// value as --name=value, as the manual writes them. The option lists, by
// the manual's page (github.com/neo4j/docs-operations, modules/ROOT/pages/):
//
//	neo4j-admin backup (backup-restore/online-backup.adoc, branches 4.0 … 4.4)
//	  4.0, 4.1  --backup-dir --verbose --from --database --fallback-to-full
//	            --pagecache --check-consistency --report-dir
//	            --check-index-structure --check-graph --check-indexes
//	            --check-label-scan-store --check-property-owners
//	            --additional-config
//	  4.2       + --include-metadata=all|users|roles; --database may glob (* ?)
//	  4.3       + --expand-commands --prepare-restore --parallel-recovery (a bare flag)
//	  4.4       --parallel-recovery=true|false
//	neo4j-admin database backup (backup-restore/online-backup.adoc, 5.x and dev)
//	  5.x       --to-path --from (host:port list, repeatable) --type=FULL|DIFF|AUTO
//	            --compress --keep-failed --pagecache --parallel-recovery
//	            --include-metadata=none|all|users|roles --inspect-path --verbose
//	            --expand-commands --additional-config -h/--help; one <database>
//	            before 5.16, several from 5.16; names may glob
//	  5.24      + --temp-path
//	  2025.04   + --prefer-diff-as-parent
//	  2025.09   + --remote-address-resolution
//	  2025.10   --include-metadata=users=<user,…>
//	  2025.11   + --parallel-download --skip-recovery
//	neo4j-admin restore (backup-restore/restore-backup.adoc)
//	  4.0, 4.1  --from --verbose --database --force
//	  4.2       + --move --to-data-directory --to-data-tx-directory
//	  4.3       + --expand-commands
//	neo4j-admin database restore (backup-restore/restore-backup.adoc)
//	  5.x       --from-path --overwrite-destination --restore-until --to-path-data
//	            --to-path-txn --verbose --expand-commands --additional-config -h;
//	            [<database>] only with a single artifact
//	  5.24      + --temp-path
//	  2025.02   + --source-database; --from-path may be a folder of artifacts
//	neo4j-admin unbind (tools/unbind.adoc, tools/neo4j-admin/unbind.adoc)
//	  4.0–4.2   no options
//	  4.3       --verbose --expand-commands --archive-cluster-state=true|false
//	            --archive-path
//	neo4j-admin server unbind (tools/neo4j-admin/unbind.adoc on 5.x,
//	clustering/unbind.adoc on dev) and neo4j-admin dbms unbind-system-db
//	(clustering/unbind-system-database.adoc)
//	  5.x       --verbose --expand-commands --archive-cluster-state
//	            --archive-path --additional-config -h
//
// It behaves as the manual says: database names are case-insensitive and
// lower-cased; the backup folder must exist before the call; 4.x backups
// are a folder per database (a copy of the live database's files, which
// hold its neostore), 5.x backups are <db>-<yyyy-MM-ddTHH-mm-ss>.backup
// artifacts (here a tar after a header with the metadata --inspect-path
// shows: see artifact.go). Exit codes of backup, as
// the manual documents them: 4.x 0 ok, 1 failed, 2 backup ok but the
// consistency check failed, 3 backup ok but inconsistencies found; 5.x 0 ok,
// 1 failed or succeeded with problems (a --from server that does not
// answer). A usage error exits 2 on every line, so on 4.x only the backup
// folder tells it from a failed consistency check, as with the real one.
//
// Transactions (5.x and calendar versions): a live database folder may
// hold transactions.log, one committed transaction a line, "<txId>
// <RFC 3339 UTC commit time> <payload>", IDs from 1 without a gap, times in
// order; a test appends lines to commit (txlog.go). A full backup holds the
// folder and the whole log (lowest tx 1, highest the last; 0 and 0 for a
// database without a log); a differential one only the transactions after
// its parent's highest, the parent being, as the manual says, the newest
// non-empty backup of the database in --to-path (--prefer-diff-as-parent,
// 2025.04: the newest non-empty differential one, if any) of the same
// database ID and no further than the live log. --type=DIFF without one
// fails the database (exit 1); AUTO then takes a full backup. A
// differential backup without new transactions is written empty, lowest
// and highest tx 0, as the manual shows an empty backup. A backup in the
// second of the newest artifact of the database in --to-path, or before
// it, is dated the second after it, so a chain never runs back in time.
// --inspect-path prints the manual's table (FILE … HIGHEST TX), oldest
// first; a path that does not exist exits 1, an empty value 2. Restore of
// a differential artifact restores its chain, found in the artifact's own
// folder (exit 1 naming the missing transactions when a link is missing),
// and --restore-until stops it: an ID restores the transactions before it
// ("up to, but not including"), a "yyyy-MM-dd hh:mm:ss" UTC time those
// committed before it; a point before the full backup's last transaction or
// past the chain (an ID above its highest + 1, a time after its last
// artifact was taken) exits 1. The restored transactions.log is then the
// live one as of that point, byte for byte. Not modelled: 2026.02's first
// differential backup overlapping its full one.
//
// Restore refuses (exit 1) what the manual calls unsafe or what would
// restore the wrong thing, reading the member's cluster state on the data
// directory (restore.go): 4.x restore on a member whose <data>/cluster-state
// is not empty (unbind first: the offline seed procedure); 5.x
// --overwrite-destination=true of a database with cluster state
// <data>/cluster-state/db/<db> ("not safe on a cluster"; system can be
// restored after dbms unbind-system-db, which removes only its state); a 4.x
// --from that is not one database's store copy; a 5.x artifact that is not
// a backup of the database restored. server unbind removes
// <data>/cluster-state and <data>/server_id.
//
// Environment:
//
//	NEO4J_STANDIN_VERSION      the Neo4j version it plays (required), e.g. 4.2.8
//	NEO4J_STANDIN_LIVE         the "running server": a folder per database, what backup copies
//	NEO4J_STANDIN_DATA         the data directory restore writes into (default /data), unless
//	                           neo4j.conf in $NEO4J_CONF sets one (dbms.directories.data on
//	                           4.x, server.directories.data on 5.x), as for the real one
//	NEO4J_STANDIN_INCONSISTENT <db,…>: the consistency check finds these databases' stores
//	                           inconsistent, writes a report and exits 1 (check.go)
//	NEO4J_STANDIN_LOG          a file each invocation's arguments are appended to, one line each
//	NEO4J_STANDIN_NOW          <RFC 3339 time>: when a 5.x backup takes its artifacts (their
//	                           names and TIME); default the clock
//	NEO4J_STANDIN_HOSTS        <addr>=<db,…>;<addr>=<db,…>: which backup address hosts which
//	                           databases (an address without port means port 6362). A --from
//	                           address not listed does not answer. 4.x fails (exit 1) when its
//	                           --from does not answer or does not host the database; 5.x tries
//	                           every --from address in order, exits 1 when one did not answer
//	                           (the backups it could take are written) and fails the databases
//	                           no answering address hosts. Unset: every address hosts every
//	                           live database.
//	NEO4J_STANDIN_SILENT_FAIL  <db,…>: backup exits 0 without writing these databases'
//	                           folder or artifact, as neo4j/neo4j#13107 reports of the real one
//	NEO4J_STANDIN_CHECK_EXIT   2|3[=<db,…>]: a 4.x backup (of these databases; default every
//	                           one) whose consistency check runs (the default) writes a good
//	                           backup, then exits 2 (check failed) or 3 (inconsistencies
//	                           found; a report lands in --report-dir if given)
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// usage is a command line the real neo4j-admin would refuse: exit 2.
type usage struct{ msg string }

func (u usage) Error() string { return u.msg }

// exitCode is a command that ran and ends with code, msg on stderr.
type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return e.msg }

func main() {
	err := run(os.Args[1:])
	if err == nil {
		return
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "neo4j-admin (stand-in):", msg)
	}
	os.Exit(codeOf(err))
}

// codeOf is the exit code err ends the stand-in with.
func codeOf(err error) int {
	var u usage
	var e exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	case errors.As(err, &e):
		return e.code
	}
	return 1
}

func run(args []string) error {
	if log := os.Getenv("NEO4J_STANDIN_LOG"); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, strings.Join(append([]string{"neo4j-admin"}, args...), " "))
		f.Close()
	}
	v, err := neo4j.ParseVersion(os.Getenv("NEO4J_STANDIN_VERSION"))
	if err != nil {
		return fmt.Errorf("NEO4J_STANDIN_VERSION: %v", err)
	}
	if len(args) == 1 && args[0] == "--version" {
		if v.Major == 4 {
			fmt.Println("neo4j-admin", v)
		} else {
			fmt.Println(v)
		}
		return nil
	}
	if v.Major == 4 {
		return run4(v, args)
	}
	return run5(v, args)
}

func run4(v neo4j.Version, args []string) error {
	if len(args) == 0 {
		return usage{"no command given"}
	}
	switch args[0] {
	case "backup":
		return backup4(v, args[1:])
	case "restore":
		return restore4(v, args[1:])
	case "unbind":
		return unbind4(v, args[1:])
	case "check-consistency":
		return checkConsistency4(args[1:])
	case "database", "server", "dbms":
		return usage{fmt.Sprintf("Unmatched argument at index 0: '%s' (that is Neo4j 5 syntax; this is Neo4j %s)", args[0], v)}
	}
	return usage{fmt.Sprintf("unrecognized command: %s", args[0])}
}

// backup4Options are neo4j-admin backup's options in v's manual.
func backup4Options(v neo4j.Version) options {
	o := options{
		"backup-dir":             {kind: value},
		"verbose":                {kind: flag},
		"from":                   {kind: value, check: address},
		"database":               {kind: value},
		"fallback-to-full":       {kind: boolean},
		"pagecache":              {kind: value, check: byteSize},
		"check-consistency":      {kind: boolean},
		"report-dir":             {kind: value},
		"check-index-structure":  {kind: boolean},
		"check-graph":            {kind: boolean},
		"check-indexes":          {kind: boolean},
		"check-label-scan-store": {kind: boolean},
		"check-property-owners":  {kind: boolean},
		"additional-config":      {kind: value, check: existingFile},
	}
	if v.AtLeast(4, 2) {
		o["include-metadata"] = option{kind: value, check: oneOf("all", "users", "roles")}
	}
	if v.AtLeast(4, 3) {
		o["expand-commands"] = option{kind: flag}
		o["prepare-restore"] = option{kind: boolean}
		o["parallel-recovery"] = option{kind: flag} // 4.3: [--parallel-recovery]
	}
	if v.AtLeast(4, 4) {
		o["parallel-recovery"] = option{kind: boolean} // 4.4: [--parallel-recovery=<true/false>]
	}
	return o
}

// backup4 is neo4j-admin backup: one --from server, one database (or, from
// 4.2, a pattern), a folder <backup-dir>/<database> each.
func backup4(v neo4j.Version, args []string) error {
	f, err := parse(args, backup4Options(v), 0, 0)
	if err != nil {
		return err
	}
	dir := f.one("backup-dir")
	if dir == "" {
		return usage{"Missing required option '--backup-dir=<path>'"}
	}
	pattern, err := databaseName(or(f.one("database"), "neo4j"), v.AtLeast(4, 2))
	if err != nil {
		return err
	}
	if f.has("include-metadata") && pattern == "system" {
		return errors.New("--include-metadata cannot be used for backing up the system database")
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Errorf("Directory '%s' does not exist", dir)
	}
	env, err := readFaults(v)
	if err != nil {
		return err
	}
	from := normalAddress(or(f.one("from"), "localhost:6362"))
	hosted, answers := env.hosted(from)
	if !answers {
		return fmt.Errorf("Unable to connect to %s: the server does not answer", from)
	}
	dbs := []string{pattern}
	if isPattern(pattern) {
		if dbs = matching(pattern, hosted); len(dbs) == 0 {
			return fmt.Errorf("No database on %s matches '%s'", from, pattern)
		}
	}
	var failed []string
	for _, db := range dbs {
		switch {
		case !slices.Contains(hosted, db):
			fmt.Fprintf(os.Stderr, "Database '%s' does not exist on %s\n", db, from)
			failed = append(failed, db)
		case env.silentFail[db]:
		default:
			// An existing backup is brought up to date: here, replaced.
			if err := replaceTree(filepath.Join(live(), db), filepath.Join(dir, db)); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("Backup failed for %s", strings.Join(failed, ", "))
	}
	checked := f.onDefault("check-consistency", true) && f.onDefault("prepare-restore", true)
	checkFails := env.checkExit != 0 && slices.ContainsFunc(dbs, func(db string) bool { return env.checkDBs == nil || env.checkDBs[db] })
	switch {
	case !checked || !checkFails:
		return nil
	case env.checkExit == 3 && f.one("report-dir") != "":
		report := filepath.Join(f.one("report-dir"), "inconsistencies-"+time.Now().UTC().Format("2006-01-02.15.04.05")+".report")
		if err := os.WriteFile(report, []byte("ERROR: inconsistencies found (stand-in)\n"), 0o644); err != nil {
			return err
		}
	}
	if env.checkExit == 2 {
		return exitCode{2, "Backup succeeded but consistency check failed"}
	}
	return exitCode{3, "Backup succeeded but consistency check found inconsistencies"}
}

func run5(v neo4j.Version, args []string) error {
	if len(args) < 2 {
		return usage{fmt.Sprintf("Unmatched argument at index 0: %q: Neo4j %s takes 'database backup', 'database restore', 'database check', 'server unbind', 'dbms unbind-system-db'", strings.Join(args, " "), v)}
	}
	switch args[0] + " " + args[1] {
	case "database backup":
		return backup5(v, args[2:])
	case "database restore":
		return restore5(v, args[2:])
	case "database check":
		return databaseCheck5(args[2:])
	case "server unbind":
		return serverUnbind(args[2:])
	case "dbms unbind-system-db":
		return unbindSystemDB(args[2:])
	}
	return usage{fmt.Sprintf("Unmatched argument at index 0: '%s' (Neo4j %s takes 'database backup', 'database restore', 'database check', 'server unbind', 'dbms unbind-system-db')", args[0], v)}
}

// backup5Options are neo4j-admin database backup's options in v's manual.
func backup5Options(v neo4j.Version) options {
	metadata := oneOf("none", "all", "users", "roles")
	if v.AtLeast(2025, 10) {
		metadata = func(s string) error {
			if users, ok := strings.CutPrefix(s, "users="); ok && users != "" && !slices.Contains(strings.Split(users, ","), "") {
				return nil
			}
			return oneOf("none", "all", "users", "users=<user,…>", "roles")(s)
		}
	}
	o := options{
		"to-path":           {kind: value},
		"from":              {kind: value, check: addresses, repeat: true},
		"type":              {kind: value, check: oneOf("FULL", "DIFF", "AUTO")},
		"compress":          {kind: boolean},
		"keep-failed":       {kind: boolean},
		"pagecache":         {kind: value, check: byteSize},
		"include-metadata":  {kind: value, check: metadata},
		"parallel-recovery": {kind: boolean},
		"inspect-path":      {kind: value},
		"verbose":           {kind: flag},
		"expand-commands":   {kind: flag},
		"additional-config": {kind: value, check: existingFile},
		"help":              {kind: flag},
	}
	if v.AtLeast(5, 24) {
		o["temp-path"] = option{kind: value}
	}
	if v.AtLeast(2025, 4) {
		o["prefer-diff-as-parent"] = option{kind: flag}
	}
	if v.AtLeast(2025, 9) {
		o["remote-address-resolution"] = option{kind: boolean}
	}
	if v.AtLeast(2025, 11) {
		o["parallel-download"] = option{kind: boolean}
		o["skip-recovery"] = option{kind: boolean}
	}
	return o
}

// backup5 is neo4j-admin database backup: every --from address tried in
// order for each database, an artifact per database backed up.
func backup5(v neo4j.Version, args []string) error {
	maxDBs := 1
	if v.AtLeast(5, 16) {
		maxDBs = -1
	}
	known := backup5Options(v)
	f, err := parse(args, known, 0, maxDBs)
	if err != nil {
		return err
	}
	if f.on("help") {
		return help("database backup", known)
	}
	if inspect := f.one("inspect-path"); inspect != "" {
		return inspectArtifacts(os.Stdout, inspect)
	}
	to := f.one("to-path")
	if to == "" {
		return usage{"Missing required option: '--to-path=<path>'"}
	}
	if len(f.positional) == 0 {
		return usage{"Missing required parameter: '<database>'"}
	}
	if strings.Contains(to, "://") {
		return fmt.Errorf("the stand-in backs up into local folders only, not %s", to)
	}
	if info, err := os.Stat(to); err != nil || !info.IsDir() {
		return fmt.Errorf("Directory '%s' does not exist", to)
	}
	env, err := readFaults(v)
	if err != nil {
		return err
	}
	var from []string
	for _, list := range f.values["from"] {
		for _, a := range strings.Split(list, ",") {
			from = append(from, normalAddress(a))
		}
	}
	if len(from) == 0 {
		from = []string{"localhost:6362"}
	}
	unanswered := map[string]bool{}
	// hostOf is the first --from address that answers and hosts db.
	hostOf := func(db string) string {
		for _, addr := range from {
			hosted, answers := env.hosted(addr)
			if !answers {
				unanswered[addr] = true
				continue
			}
			if slices.Contains(hosted, db) {
				return addr
			}
		}
		return ""
	}
	var dbs []string
	for _, p := range f.positional {
		name, err := databaseName(p, true)
		if err != nil {
			return err
		}
		if !isPattern(name) {
			dbs = append(dbs, name)
			continue
		}
		// Every server contributes to the databases a pattern matches.
		var all []string
		for _, addr := range from {
			hosted, answers := env.hosted(addr)
			unanswered[addr] = unanswered[addr] || !answers
			all = append(all, hosted...)
		}
		found := matching(name, all)
		if len(found) == 0 {
			return fmt.Errorf("No database matches '%s' on %s", name, strings.Join(from, ","))
		}
		dbs = append(dbs, found...)
	}
	backupType := or(f.one("type"), "AUTO")
	stamp := time.Now().UTC()
	if now := os.Getenv("NEO4J_STANDIN_NOW"); now != "" {
		if stamp, err = time.Parse(time.RFC3339Nano, now); err != nil {
			return fmt.Errorf("NEO4J_STANDIN_NOW=%s is not an RFC 3339 time like 2025-06-01T10:00:00Z", now)
		}
		stamp = stamp.UTC()
	}
	var failed []string
	for i, db := range dbs {
		if slices.Contains(dbs[:i], db) {
			continue
		}
		addr := hostOf(db)
		if addr == "" {
			fmt.Fprintf(os.Stderr, "Database '%s' is not hosted by any server that answered of %s\n", db, strings.Join(from, ","))
			failed = append(failed, db)
			continue
		}
		if env.silentFail[db] {
			continue
		}
		if err := backupOne(to, db, backupType, stamp, f); err != nil {
			var e exitCode
			if !errors.As(err, &e) {
				return err
			}
			fmt.Fprintln(os.Stderr, e.msg)
			failed = append(failed, db)
		}
	}
	var problems []string
	for _, addr := range from {
		if unanswered[addr] {
			problems = append(problems, "server "+addr+" did not answer")
		}
	}
	if len(failed) > 0 {
		problems = append(problems, "backup failed for "+strings.Join(failed, ", "))
	}
	if len(problems) > 0 {
		return exitCode{1, strings.Join(problems, "; ")}
	}
	return nil
}

// backupOne writes an artifact of the live database db into the folder to:
// a full backup, or a differential one of the transactions since its
// parent in to (parentIn), as --type asks. A differential backup without a
// parent fails (an exitCode); AUTO then takes a full one, as the manual
// says.
func backupOne(to, db, backupType string, stamp time.Time, f parsed) error {
	src := filepath.Join(live(), db)
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", db)
	}
	txs, err := liveLog(src)
	if err != nil {
		return err
	}
	head := artifact{Database: db, DatabaseID: databaseID(src), Compressed: f.onDefault("compress", true)}
	_, highest := txRange(txs)
	parent, ok := artifact{}, false
	if backupType != "FULL" {
		if parent, ok, err = parentIn(to, head, highest, f.on("prefer-diff-as-parent")); err != nil {
			return err
		}
	}
	if backupType == "DIFF" && !ok {
		return exitCode{1, fmt.Sprintf("Cannot take a differential backup of '%s': %s holds no backup of it to build on (a full backup of this database first, or --type=AUTO)", db, to)}
	}
	// Names are to the second, and a chain runs forward in time: a backup
	// taken in the second of (or before) the newest artifact of the
	// database already there, as tests that run faster than the real one
	// do, takes the second after it, so it neither replaces that artifact
	// (a differential one would break its own chain) nor predates its
	// parent.
	at := stamp
	found, _ := artifactsIn(to) // a full backup does not need them readable
	for _, a := range found {
		if a.Database == db && at.Truncate(time.Second).Compare(a.Time.Truncate(time.Second)) <= 0 {
			at = a.Time.Truncate(time.Second).Add(time.Second)
		}
	}
	dst := filepath.Join(to, db+"-"+at.Format("2006-01-02T15-04-05")+".backup")
	for i := 0; exists(dst) && i < 3600; i++ {
		at = at.Truncate(time.Second).Add(time.Second)
		dst = filepath.Join(to, db+"-"+at.Format("2006-01-02T15-04-05")+".backup")
	}
	head.Time = at
	if !ok {
		return writeFull(src, dst, head, txs)
	}
	return writeDifferential(dst, head, parent.HighestTx, txs[parent.HighestTx:])
}

// help prints the options of a 5.x command, as -h does.
func help(command string, known options) error {
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, "--"+name)
	}
	sort.Strings(names)
	fmt.Printf("Usage: neo4j-admin %s [%s]\n", command, strings.Join(names, "] ["))
	return nil
}

// faults are the environment's say about the servers and the failures to
// play (see the package comment).
type faults struct {
	hosts      map[string][]string // nil: every address hosts every live database
	silentFail map[string]bool
	checkExit  int
	checkDBs   map[string]bool // nil: every database
}

func readFaults(v neo4j.Version) (faults, error) {
	f := faults{silentFail: map[string]bool{}}
	for _, db := range strings.Split(os.Getenv("NEO4J_STANDIN_SILENT_FAIL"), ",") {
		if db = strings.ToLower(strings.TrimSpace(db)); db != "" {
			f.silentFail[db] = true
		}
	}
	if s := os.Getenv("NEO4J_STANDIN_CHECK_EXIT"); s != "" {
		c, dbs, restricted := strings.Cut(s, "=")
		code, err := strconv.Atoi(c)
		if err != nil || (code != 2 && code != 3) {
			return f, fmt.Errorf("NEO4J_STANDIN_CHECK_EXIT=%s: give 2 (consistency check failed) or 3 (inconsistencies found), and =<db,…> to name databases", s)
		}
		if restricted {
			f.checkDBs = map[string]bool{}
			for _, db := range strings.Split(dbs, ",") {
				f.checkDBs[strings.ToLower(strings.TrimSpace(db))] = true
			}
		}
		if v.Major != 4 {
			return f, fmt.Errorf("NEO4J_STANDIN_CHECK_EXIT: Neo4j %s backs up without a consistency check; only 4.x exits 2 or 3", v)
		}
		f.checkExit = code
	}
	if s := os.Getenv("NEO4J_STANDIN_HOSTS"); s != "" {
		f.hosts = map[string][]string{}
		for _, entry := range strings.Split(s, ";") {
			addr, list, ok := strings.Cut(strings.TrimSpace(entry), "=")
			if !ok || address(addr) != nil {
				return f, fmt.Errorf("NEO4J_STANDIN_HOSTS: %q is not <host:port>=<db,…>", entry)
			}
			hosted := []string{}
			for _, db := range strings.Split(list, ",") {
				if db = strings.ToLower(strings.TrimSpace(db)); db != "" {
					hosted = append(hosted, db)
				}
			}
			f.hosts[normalAddress(addr)] = hosted
		}
	}
	return f, nil
}

// hosted is what the server at addr hosts, and whether it answers at all.
func (f faults) hosted(addr string) (databases []string, answers bool) {
	var running []string
	if entries, err := os.ReadDir(live()); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				running = append(running, strings.ToLower(e.Name()))
			}
		}
	}
	if f.hosts == nil {
		return running, true
	}
	hosted, ok := f.hosts[addr]
	if !ok {
		return nil, false
	}
	var dbs []string
	for _, db := range hosted {
		if slices.Contains(running, db) {
			dbs = append(dbs, db)
		}
	}
	return dbs, true
}

// databaseNamePattern is Neo4j's rule (manage-databases/configuration.adoc):
// 3-63 characters, an ASCII letter first, then letters, digits, dots and
// dashes; case-insensitive, lower-cased.
var databaseNamePattern = regexp.MustCompile(`^[a-z][a-z0-9.\-]{2,62}$`)

// databaseName lower-cases a database name as Neo4j does and checks it; a
// pattern of * and ? is allowed where the manual documents globbing.
func databaseName(name string, glob bool) (string, error) {
	name = strings.ToLower(name)
	if glob && isPattern(name) {
		if _, err := path.Match(name, ""); err == nil && regexp.MustCompile(`^[a-z0-9.\-*?]+$`).MatchString(name) {
			return name, nil
		}
	} else if databaseNamePattern.MatchString(name) {
		return name, nil
	}
	return "", fmt.Errorf("'%s' is not a valid database name: 3-63 characters, a letter first, then letters, digits, dots or dashes", name)
}

func isPattern(name string) bool { return strings.ContainsAny(name, "*?") }

func matching(pattern string, dbs []string) []string {
	var found []string
	for _, db := range dbs {
		if ok, _ := path.Match(pattern, db); ok && !slices.Contains(found, db) {
			found = append(found, db)
		}
	}
	sort.Strings(found)
	return found
}

type kind int

const (
	flag    kind = iota // --name, and nothing else: [--verbose]
	boolean             // --name, --name=true or --name=false: [--compress[=true|false]]
	value               // --name=value
)

// option is one documented option: its kind, what its value may be, and
// whether it may be given more than once.
type option struct {
	kind   kind
	check  func(string) error
	repeat bool
}

type options map[string]option

type parsed struct {
	values     map[string][]string
	positional []string
}

func (p parsed) has(name string) bool { return len(p.values[name]) > 0 }

func (p parsed) one(name string) string {
	if vs := p.values[name]; len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return ""
}

func (p parsed) on(name string) bool { return p.onDefault(name, false) }

func (p parsed) onDefault(name string, def bool) bool {
	if !p.has(name) {
		return def
	}
	return p.one(name) == "true"
}

// parse reads --name=value options and positional arguments, refusing any
// option the version does not document, a value the manual does not allow,
// and more or fewer positional arguments than minPos..maxPos (maxPos -1:
// any number).
func parse(args []string, known options, minPos, maxPos int) (parsed, error) {
	p := parsed{values: map[string][]string{}}
	for _, a := range args {
		if a == "-h" {
			a = "--help"
		}
		if !strings.HasPrefix(a, "--") {
			p.positional = append(p.positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		o, ok := known[name]
		if !ok {
			return p, usage{fmt.Sprintf("Unknown option: '--%s'", name)}
		}
		switch {
		case o.kind == flag && hasVal:
			return p, usage{fmt.Sprintf("option '--%s' should be specified without '%s' parameter", name, val)}
		case o.kind != value && !hasVal:
			val = "true"
		case o.kind == boolean && val != "true" && val != "false":
			return p, usage{fmt.Sprintf("Invalid value for option '--%s': '%s' is not a boolean", name, val)}
		case o.kind == value && (!hasVal || val == ""):
			return p, usage{fmt.Sprintf("Missing required parameter for option '--%s'", name)}
		}
		if o.check != nil {
			if err := o.check(val); err != nil {
				return p, usage{fmt.Sprintf("Invalid value for option '--%s': %v", name, err)}
			}
		}
		if p.has(name) && !o.repeat {
			return p, usage{fmt.Sprintf("option '--%s' should be specified only once", name)}
		}
		p.values[name] = append(p.values[name], val)
	}
	if len(p.positional) < minPos {
		return p, usage{"Missing required parameter: '<database>'"}
	}
	if maxPos >= 0 && len(p.positional) > maxPos {
		return p, usage{fmt.Sprintf("Unmatched arguments: %s", strings.Join(p.positional[maxPos:], " "))}
	}
	return p, nil
}

func oneOf(allowed ...string) func(string) error {
	return func(s string) error {
		if slices.Contains(allowed, s) {
			return nil
		}
		return fmt.Errorf("'%s' is not one of %s", s, strings.Join(allowed, ", "))
	}
}

// address is a backup address: host or host:port (6362 when left out).
func address(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "6362"
	}
	if n, err := strconv.Atoi(port); host == "" || strings.ContainsAny(host, ",:/ ") || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("'%s' is not host:port", addr)
	}
	return nil
}

func addresses(list string) error {
	for _, a := range strings.Split(list, ",") {
		if err := address(a); err != nil {
			return err
		}
	}
	return nil
}

func normalAddress(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return net.JoinHostPort(addr, "6362")
	}
	return addr
}

// byteSizePattern is a size as Neo4j reads one: 8m, 512k, 2G, 4GiB, 100.
var byteSizePattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*([kKmMgGtT][iI]?[bB]?|[bB])?$`)

func byteSize(s string) error {
	if byteSizePattern.MatchString(s) {
		return nil
	}
	return fmt.Errorf("'%s' is not a size like 8m or 4g", s)
}

func existingFile(p string) error {
	if info, err := os.Stat(p); err != nil || info.IsDir() {
		return fmt.Errorf("file '%s' does not exist", p)
	}
	return nil
}

func live() string { return os.Getenv("NEO4J_STANDIN_LIVE") }
func dataDir() string {
	return or(configuredDataDir(), or(os.Getenv("NEO4J_STANDIN_DATA"), "/data"))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// copyTree copies the database folder src to dst.
func copyTree(src, dst string) error {
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", filepath.Base(src))
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(p, target)
	})
}

// replaceTree makes dst a copy of src, removing what dst held.
func replaceTree(src, dst string) error {
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", filepath.Base(src))
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return copyTree(src, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
