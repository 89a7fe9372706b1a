package neo4j

// The restore drill's neo4j-admin calls (README "Restore drills"): restore
// each database into a scratch data directory and check its consistency,
// as the Operations Manual documents each on its version line.

// DrillConfig is the neo4j.conf of a restore drill, in a folder of its own
// that NEO4J_CONF names (tools/neo4j-admin/index.adoc: "NEO4J_CONF: Path to
// the directory that contains neo4j.conf"): the data directory is a scratch
// one, so neo4j-admin restores and checks there and never touches a live
// store; on 4.x the page cache of check-consistency is set here too, which
// has no option of its own for it.
func DrillConfig(v Version, dataDir, pageCache string) []string {
	if v.Major == 4 {
		return []string{"dbms.directories.data=" + dataDir, "dbms.memory.pagecache.size=" + pageCache}
	}
	return []string{"server.directories.data=" + dataDir}
}

// DrillRestoreCommand restores database into the data directory of
// DrillConfig from what a fetch staged: 4.x the folder 4.x backup wrote
// for it, 5.x and calendar versions its artifacts, a comma list
// (backup-restore/restore-backup.adoc: "--from-path=<path>[,<path>...]").
// The data directory is new, so nothing is overwritten.
//
//	4.x:            neo4j-admin restore --from=PATH --database=DB
//	5.x, calendar:  neo4j-admin database restore --from-path=PATH[,PATH…]
func DrillRestoreCommand(v Version, from, database string) []string {
	if v.Major == 4 {
		return []string{"neo4j-admin", "restore", "--from=" + from, "--database=" + database}
	}
	return []string{"neo4j-admin", "database", "restore", "--from-path=" + from}
}

// CheckCommand checks the consistency of database, writing a report into
// reportDir when it finds inconsistencies:
//
//	4.x: neo4j-admin check-consistency --database=DB --report-dir=DIR
//	     (tools/neo4j-admin/consistency-checker.adoc on 4.4: the restored
//	     database, in the data directory of DrillConfig)
//	5.x, calendar: neo4j-admin database check --from-path=DIR
//	     --report-path=DIR --max-off-heap-memory=SIZE DB (the same page on
//	     5.x: the backup's artifacts, in a folder of their own)
//
// artifacts is the folder of the database's artifacts (5.x only); offHeap
// a Neo4j size like 512m.
func CheckCommand(v Version, artifacts, database, reportDir, offHeap string) []string {
	if v.Major == 4 {
		return []string{"neo4j-admin", "check-consistency", "--database=" + database, "--report-dir=" + reportDir}
	}
	return []string{"neo4j-admin", "database", "check", "--from-path=" + artifacts, "--report-path=" + reportDir, "--max-off-heap-memory=" + offHeap, database}
}

// InconsistencyReportPrefix and InconsistencyReportSuffix are how the
// consistency checker names its report on every version line:
// inconsistencies-YYYY-MM-DD.HH24.MI.SS.report.
const InconsistencyReportPrefix, InconsistencyReportSuffix = "inconsistencies-", ".report"
