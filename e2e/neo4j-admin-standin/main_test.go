package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// place is one test's world: a live server holding neo4j and system, an
// existing backup folder D that already holds a 4.x backup of neo4j and
// 5.x artifacts (ART of neo4j, SYS of system, and an older one of neo4j),
// an empty folder E, a configuration file CONF and a data directory DATA.
type place struct {
	live, dir, empty, conf, data, artifact, system string
}

func newPlace(t *testing.T, version string) place {
	t.Helper()
	tmp := t.TempDir()
	p := place{
		live: filepath.Join(tmp, "live"), dir: filepath.Join(tmp, "backups"), empty: filepath.Join(tmp, "empty"),
		conf: filepath.Join(tmp, "extra.conf"), data: filepath.Join(tmp, "data"),
	}
	for _, db := range []string{"neo4j", "system"} {
		testfiles.Write(t, filepath.Join(p.live, db, "neostore"), "store of "+db)
	}
	testfiles.Write(t, filepath.Join(p.dir, "neo4j", "neostore"), "older store of neo4j")
	testfiles.Write(t, p.conf, "server.memory.pagecache.size=8m\n")
	if err := os.MkdirAll(p.empty, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 31, 10, 0, 0, 0, time.UTC)
	p.artifact = filepath.Join(p.dir, "neo4j-2025-01-31T10-00-00.backup")
	p.system = filepath.Join(p.dir, "system-2025-01-31T10-00-00.backup")
	for _, a := range []struct {
		src, dst, db string
		at           time.Time
	}{
		{filepath.Join(p.dir, "neo4j"), filepath.Join(p.dir, "neo4j-2025-01-30T10-00-00.backup"), "neo4j", at.Add(-24 * time.Hour)},
		{filepath.Join(p.live, "neo4j"), p.artifact, "neo4j", at},
		{filepath.Join(p.live, "system"), p.system, "system", at},
	} {
		if err := writeArtifact(a.src, a.dst, a.db, a.at); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("NEO4J_STANDIN_VERSION", version)
	t.Setenv("NEO4J_STANDIN_LIVE", p.live)
	t.Setenv("NEO4J_STANDIN_DATA", p.data)
	t.Setenv("NEO4J_STANDIN_LOG", filepath.Join(tmp, "calls.log"))
	for _, k := range []string{"NEO4J_STANDIN_HOSTS", "NEO4J_STANDIN_SILENT_FAIL", "NEO4J_STANDIN_CHECK_EXIT", "NEO4J_STANDIN_INCONSISTENT", "NEO4J_STANDIN_NOW", "NEO4J_CONF"} {
		t.Setenv(k, "")
	}
	return p
}

// expand replaces {D}, {E}, {CONF}, {ART}, {SYS}, {DATA} and {T} with the
// place's folders and files, and {SP} with a space.
func (p place) expand(s string) string {
	return strings.NewReplacer("{ART}", p.artifact, "{SYS}", p.system, "{CONF}", p.conf, "{DATA}", p.data,
		"{D}", p.dir, "{E}", p.empty, "{T}", filepath.Join(p.empty, "tmp"), "{SP}", " ").Replace(s)
}

// run runs a command line, its words expanded, and returns its exit code.
func (p place) run(t *testing.T, line string) (int, error) {
	t.Helper()
	var args []string
	for _, a := range strings.Fields(line) {
		args = append(args, p.expand(a))
	}
	err := run(args)
	return codeOf(err), err
}

// Each version line takes exactly the options its Operations Manual lists.
func TestDocumentedOptions(t *testing.T) {
	const (
		ok     = 0
		failed = 1
		usage  = 2
	)
	all4 := "backup --backup-dir={D} --database=neo4j --from=core-0:6362 --verbose --fallback-to-full=false --pagecache=512m" +
		" --check-consistency=false --report-dir={E} --check-index-structure=false --check-graph=true --check-indexes=false" +
		" --check-label-scan-store=false --check-property-owners=true --additional-config={CONF}"
	all5 := "database backup --to-path={D} --from=a:6362,b:6362 --from=c:6362 --type=FULL --compress=false --keep-failed" +
		" --pagecache=1g --include-metadata=none --parallel-recovery=true --verbose --expand-commands --additional-config={CONF}"
	tests := []struct {
		version, line string
		code          int
	}{
		// neo4j-admin backup, 4.0 and 4.1
		{"4.0.12", all4, ok},
		{"4.1.12", all4, ok},
		{"4.0.12", "backup --backup-dir={D} --from=192.168.1.34", ok}, // a host alone: port 6362
		{"4.1.12", "backup --backup-dir={D} --include-metadata=all", usage},
		{"4.1.12", "backup --backup-dir={D} --expand-commands", usage},
		{"4.1.12", "backup --backup-dir={D} --prepare-restore=false", usage},
		{"4.1.12", "backup --backup-dir={D} --parallel-recovery", usage},
		{"4.1.12", "backup --backup-dir={D} --database=*", failed}, // no globbing before 4.2
		{"4.1.12", "backup --database=neo4j", usage},               // --backup-dir is required
		{"4.1.12", "backup --backup-dir={D}/missing", failed},      // it must exist
		{"4.1.12", "backup --backup-dir={D} --check-consistency=maybe", usage},
		{"4.1.12", "backup --backup-dir={D} --pagecache=lots", usage},
		{"4.1.12", "backup --backup-dir={D} --from=a:6362,b:6362", usage}, // one address
		{"4.1.12", "backup --backup-dir={D} --verbose=true", usage},
		{"4.1.12", "backup --backup-dir={D} --additional-config={E}/none.conf", usage},
		{"4.1.12", "backup --backup-dir={D} --to-path={D}", usage},
		// 4.2: --include-metadata, globbing
		{"4.2.8", all4 + " --include-metadata=users", ok},
		{"4.2.8", "backup --backup-dir={D} --include-metadata=everything", usage},
		{"4.2.8", "backup --backup-dir={D} --database=system --include-metadata=all", failed},
		{"4.2.8", "backup --backup-dir={D} --database=*", ok},
		{"4.2.8", "backup --backup-dir={D} --expand-commands", usage},
		{"4.2.8", "backup --backup-dir={D} --prepare-restore=true", usage},
		// 4.3: --expand-commands, --prepare-restore, --parallel-recovery (a flag)
		{"4.3.23", all4 + " --include-metadata=roles --expand-commands --prepare-restore=false --parallel-recovery", ok},
		{"4.3.23", "backup --backup-dir={D} --parallel-recovery=true", usage},
		// 4.4: --parallel-recovery=<true/false>
		{"4.4.40", all4 + " --include-metadata=all --expand-commands --prepare-restore=true --parallel-recovery=false", ok},
		{"4.4.40", "backup --backup-dir={D} --parallel-recovery", ok},
		{"4.4.40", "backup --backup-dir={D} --type=FULL", usage},

		// neo4j-admin restore and unbind, 4.x
		{"4.0.12", "restore --from={D}/neo4j --database=neo4j --force --verbose", ok},
		{"4.0.12", "restore --from={D}/neo4j", ok}, // --database defaults to neo4j
		{"4.0.12", "restore --database=neo4j --force", usage},
		{"4.1.12", "restore --from={D}/neo4j --database=neo4j --force --move", usage},
		{"4.1.12", "restore --from={D}/neo4j --database=neo4j --force=true", usage},
		{"4.1.12", "restore --from={D}/neo4j --database=neo4j --to-data-directory={E}", usage},
		{"4.2.8", "restore --from={D}/neo4j --database=neo4j --force --move --to-data-directory={E} --to-data-tx-directory={E}", ok},
		{"4.2.8", "restore --from={D}/neo4j --database=neo4j --force --expand-commands", usage},
		{"4.3.23", "restore --from={D}/neo4j --database=neo4j --force --expand-commands", ok},
		{"4.4.40", "restore --from={D}/neo4j --database=neo4j --force --verbose --expand-commands --move --to-data-directory={E} --to-data-tx-directory={E}", ok},
		{"4.4.40", "restore --from={D}/neo4j --database=neo4j --overwrite-destination=true", usage},
		{"4.4.40", "restore --from={E}/none --database=neo4j", failed},
		{"4.4.40", "restore --from={D}/neo4j --database=no", failed}, // not a database name
		{"4.0.12", "unbind", ok},
		{"4.2.8", "unbind --verbose", usage}, // 4.0–4.2 document no option
		{"4.2.8", "unbind --expand-commands", usage},
		{"4.3.23", "unbind --verbose --expand-commands --archive-cluster-state=true --archive-path={E}", ok},
		{"4.4.40", "unbind --verbose --expand-commands --archive-cluster-state=false --archive-path={E}", ok},
		{"4.4.40", "unbind --archive-cluster-state", usage}, // =<true/false>
		{"4.4.40", "unbind --additional-config={CONF}", usage},
		{"4.4.40", "unbind neo4j", usage},
		{"4.4.40", "database backup --to-path={D} neo4j", usage},
		{"4.4.40", "database restore --from-path={ART} neo4j", usage},
		{"4.4.40", "server unbind", usage},
		{"4.4.40", "dbms unbind-system-db", usage},

		// neo4j-admin database backup, 5.x
		{"5.15.0", all5 + " neo4j", ok},
		{"5.15.0", all5 + " neo4j system", usage}, // one database before 5.16
		{"5.16.0", all5 + " neo4j system", ok},
		{"5.26.0", all5 + " neo*", ok}, // a pattern
		{"5.26.0", "database backup --to-path={D} --type=full neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --type=DIFF neo4j", ok}, // D holds neo4j's artifact
		{"5.26.0", "database backup --to-path={E} --type=DIFF neo4j", failed},
		{"5.26.0", "database backup --to-path={D} --type=AUTO neo4j", ok},
		{"5.26.0", "database backup --to-path={D} --include-metadata=everything neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --include-metadata=users=alice neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --from=a:b neo4j", usage},
		{"5.26.0", "database backup --to-path={D}", usage},             // a database is required
		{"5.26.0", "database backup neo4j", usage},                     // so is --to-path
		{"5.26.0", "database backup --to-path={E}/none neo4j", failed}, // which must exist
		{"5.26.0", "database backup --inspect-path={D}", ok},
		{"5.26.0", "database backup --inspect-path={ART}", ok},
		{"5.26.0", "database backup --inspect-path={E}", ok}, // no artifact: the table's header alone
		{"5.26.0", "database backup --inspect-path=", usage},
		{"5.26.0", "database backup --inspect-path={E}/none", failed},
		{"5.26.0", "database backup -h", ok},
		{"5.26.0", "database backup --to-path={D} --backup-dir={D} neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --check-consistency=false neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --verbose=true neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --compress=yes neo4j", usage},
		{"5.23.0", "database backup --to-path={D} --temp-path={T} neo4j", usage},
		{"5.24.0", "database backup --to-path={D} --temp-path={T} neo4j", ok},
		{"5.26.0", "database backup --to-path={D} --prefer-diff-as-parent neo4j", usage},
		{"5.26.0", "database backup --to-path={D} --remote-address-resolution neo4j", usage},
		// calendar versions
		{"2025.03.0", "database backup --to-path={D} --prefer-diff-as-parent neo4j", usage},
		{"2025.04.0", "database backup --to-path={D} --prefer-diff-as-parent neo4j", ok},
		{"2025.04.0", "database backup --to-path={D} --prefer-diff-as-parent=true neo4j", usage},
		{"2025.08.0", "database backup --to-path={D} --remote-address-resolution=true neo4j", usage},
		{"2025.09.0", "database backup --to-path={D} --remote-address-resolution=true neo4j", ok},
		{"2025.09.0", "database backup --to-path={D} --include-metadata=users=alice,bob neo4j", usage},
		{"2025.10.0", "database backup --to-path={D} --include-metadata=users=alice,bob neo4j", ok},
		{"2025.10.0", "database backup --to-path={D} --parallel-download neo4j", usage},
		{"2025.10.0", "database backup --to-path={D} --skip-recovery neo4j", usage},
		{"2025.11.0", "database backup --to-path={D} --parallel-download --skip-recovery=false neo4j", ok},
		{"2025.06.0", all5 + " --temp-path={T} neo4j system", ok},

		// neo4j-admin database restore, 5.x
		{"5.26.0", "database restore --from-path={ART} --overwrite-destination=true --verbose --expand-commands --restore-until=1 --to-path-data={E} --to-path-txn={E} --additional-config={CONF} neo4j", ok},
		{"5.26.0", "database restore --from-path={ART} --restore-until=2021-09-11{SP}10:15:30 neo4j", ok},
		{"5.26.0", "database restore --from-path={ART} --restore-until=yesterday neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} --restore-until=2 neo4j", failed},                      // past the artifact's transactions
		{"5.26.0", "database restore --from-path={ART} --restore-until=2025-01-31{SP}10:00:01 neo4j", failed}, // after it was taken
		{"5.26.0", "database restore --from-path={ART} --restore-until=2021-09-11T10:15:30Z neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} neo4j", ok},
		{"5.26.0", "database restore --from-path={ART}", ok}, // the artifact's database
		{"5.26.0", "database restore --from-path={ART} --overwrite-destination neo4j", ok},
		{"5.26.0", "database restore --from-path={ART} --overwrite-destination=yes neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} --verbose=true neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} --additional-config={E}/none.conf neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} neo4j system", usage},
		{"5.26.0", "database restore neo4j", usage},
		{"5.26.0", "database restore -h", ok},
		{"5.26.0", "database restore --from-path={ART} --force neo4j", usage},
		{"5.26.0", "database restore --from-path={ART} --move neo4j", usage},
		{"5.26.0", "database restore --from={ART} neo4j", usage},
		{"5.26.0", "restore --from={D}/neo4j --database=neo4j", usage},
		{"5.23.0", "database restore --from-path={ART} --temp-path={T} neo4j", usage},
		{"5.24.0", "database restore --from-path={ART} --temp-path={T} neo4j", ok},
		{"5.26.0", "database restore --from-path={ART},{SYS}", ok}, // each as its database
		{"5.26.0", "database restore --from-path={ART},{SYS} neo4j", usage},
		{"5.26.0", "database restore --from-path={ART},{SYS} --to-path-data={E}", usage},
		{"5.26.0", "database restore --from-path={E}/none.backup neo4j", failed},
		{"5.26.0", "database restore --from-path=s3://bucket/neo4j.backup neo4j", failed}, // local files only here
		{"5.26.0", "database restore --from-path={D} --source-database=neo4j", usage},
		// a folder of artifacts, and --source-database, from 2025.02
		{"5.26.0", "database restore --from-path={D}", failed},
		{"2025.01.0", "database restore --from-path={D}", failed},
		{"2025.01.0", "database restore --from-path={ART} --source-database=neo4j neo4j", usage},
		{"2025.02.0", "database restore --from-path={ART} --source-database=neo4j neo4j", ok},
		{"2025.02.0", "database restore --from-path={ART} --source-database=system", failed},
		{"2025.02.0", "database restore --from-path={D} --source-database=neo4j", ok},
		{"2025.02.0", "database restore --from-path={D} --source-database=Neo4j --overwrite-destination=true --temp-path={T}", ok},
		{"2025.02.0", "database restore --from-path={D} --source-database=movies", failed},
		{"2025.02.0", "database restore --from-path={D}", failed}, // neo4j and system: which?
		{"2025.02.0", "database restore --from-path={D} --source-database=neo4j neo4j", usage},
		{"2025.02.0", "database restore --from-path={E}", failed}, // no artifact in it
		{"2026.01.0", "database restore --from-path={D} --source-database=system --overwrite-destination=true --restore-until=1 --verbose --expand-commands --additional-config={CONF}", ok},
		{"2026.01.0", "database restore --from-path={ART} --overwrite-destination=true --restore-until=2025-01-31{SP}10:00:00 --to-path-data={E} --to-path-txn={E} neo4j", ok},

		// neo4j-admin server unbind and dbms unbind-system-db, 5.x and calendar versions
		{"5.26.0", "server unbind --expand-commands --verbose --archive-cluster-state=true --archive-path={E} --additional-config={CONF}", ok},
		{"5.26.0", "server unbind --archive-cluster-state", ok},
		{"5.26.0", "server unbind -h", ok},
		{"5.26.0", "server unbind --archive-cluster-state=maybe", usage},
		{"5.26.0", "server unbind --force", usage},
		{"5.26.0", "unbind", usage},
		{"5.26.0", "dbms unbind-system-db --expand-commands --verbose --archive-cluster-state=true --archive-path={E} --additional-config={CONF}", ok},
		{"5.26.0", "dbms unbind-system-db", ok},
		{"5.26.0", "dbms unbind-system-db -h", ok},
		{"5.26.0", "dbms unbind-system-db --archive-cluster-state=maybe", usage},
		{"5.26.0", "dbms unbind-system-db --additional-config={E}/none.conf", usage},
		{"5.26.0", "dbms unbind-system-db system", usage},
		{"5.26.0", "dbms unbind-system-db --database=system", usage},
		{"2025.06.0", "dbms unbind-system-db --archive-cluster-state=false", ok},
		{"2026.01.0", "dbms unbind-system-db --verbose --archive-cluster-state --archive-path={E}", ok},
		{"2026.01.0", "server unbind --verbose", ok},
		{"5.26.0", "backup --backup-dir={D} --database=neo4j", usage},
	}
	for _, tt := range tests {
		// No comma in the name: it ends up in the paths, which restore splits at commas.
		t.Run(strings.ReplaceAll(tt.version+" "+tt.line, ",", "+"), func(t *testing.T) {
			p := newPlace(t, tt.version)
			if code, err := p.run(t, tt.line); code != tt.code {
				t.Errorf("exit %d (%v); want %d", code, err, tt.code)
			}
		})
	}
}

// Restore refuses what the Operations Manual calls unsafe on a cluster
// member, and a backup that is not of the database restored; the manual's
// procedures (unbind first on 4.x, unbind-system-db for system on 5.x)
// make the same restore go through.
func TestRestoreFollowsTheManual(t *testing.T) {
	type step struct {
		line string
		code int
		says string // in the error
	}
	bound4 := []string{"cluster-state/db/neo4j/raft-log", "cluster-state/core-member-id-state/member"}
	server5 := []string{"cluster-state/db/system/raft-log", "cluster-state/db/neo4j/raft-log", "server_id"}
	tests := []struct {
		name, version string
		data          []string // files on the data volume before the steps
		steps         []step
		want          map[string]string // every file on the data volume afterwards, and what it holds
	}{
		{"4.x restore on a bound core refused and accepted after unbind", "4.4.40", bound4, []step{
			{"restore --from={D}/neo4j --database=neo4j --force", 1, "run neo4j-admin unbind first"},
			{"unbind", 0, ""},
			{"restore --from={D}/neo4j --database=neo4j --force", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "older store of neo4j"}},
		{"4.2 restore on a bound read replica", "4.2.8", []string{"cluster-state/db/neo4j/raft-log"}, []step{
			{"restore --from={D}/neo4j --database=neo4j", 1, "is bound to a cluster, its state in {DATA}/cluster-state"},
			{"unbind", 0, ""},
			{"restore --from={D}/neo4j --database=neo4j", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "older store of neo4j"}},
		{"4.x unbind archiving the cluster state first", "4.4.40", bound4, []step{
			{"unbind --archive-cluster-state=true --archive-path={E}/state.zip", 0, ""},
			{"restore --from={D}/neo4j --database=neo4j", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "older store of neo4j"}},
		{"4.x restore on a standalone server", "4.4.40", []string{"databases/neo4j/neostore"}, []step{
			{"restore --from={D}/neo4j --database=neo4j", 1, "already exists"},
			{"restore --from={D}/neo4j --database=neo4j --force", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "older store of neo4j"}},
		{"4.x restore from the seed's legacy tmp folder", "4.4.40", nil, []step{
			{"restore --from={E}/tmp --database=tmp --force", 1, "Source directory is not a database backup [{E}/tmp]"},
			{"restore --from={E}/tmp/none --database=tmp --force", 1, "Source directory does not exist"},
		}, map[string]string{}},
		{"5.x overwrite of system on a cluster server refused and accepted after unbind-system-db", "5.26.0", server5, []step{
			{"database restore --from-path={SYS} --overwrite-destination=true system", 1, "is not safe on a cluster since clusters have an additional state that would be inconsistent with the restored database"},
			{"dbms unbind-system-db", 0, ""},
			{"database restore --from-path={SYS} --overwrite-destination=true system", 0, ""},
		}, map[string]string{"cluster-state/db/neo4j/raft-log": "", "server_id": "", "databases/system/neostore": "store of system"}},
		{"5.x overwrite of neo4j on a cluster server refused also after unbind-system-db", "2025.06.0", server5, []step{
			{"database restore --from-path={ART} --overwrite-destination=true neo4j", 1, "{DATA}/cluster-state/db/neo4j"},
			{"dbms unbind-system-db --archive-cluster-state=true --archive-path={E}", 0, ""},
			{"database restore --from-path={ART} --overwrite-destination=true neo4j", 1, "not safe on a cluster"},
			{"database restore --from-path={ART},{SYS} --overwrite-destination=true", 1, "not safe on a cluster"},
		}, map[string]string{"cluster-state/db/neo4j/raft-log": "", "server_id": ""}},
		{"5.x restore of a new database on a cluster server: the designated seeder's way", "5.26.0", server5, []step{
			{"database restore --from-path={ART} --overwrite-destination=true neo4j", 1, "not safe on a cluster"},
			{"database restore --from-path={SYS} system", 0, ""}, // no store yet, nothing overwritten
		}, map[string]string{"cluster-state/db/system/raft-log": "", "cluster-state/db/neo4j/raft-log": "", "server_id": "", "databases/system/neostore": "store of system"}},
		{"5.x server unbind removes all cluster state and the server id", "5.26.0", server5, []step{
			{"server unbind", 0, ""},
			{"database restore --from-path={ART} --overwrite-destination=true neo4j", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "store of neo4j"}},
		{"5.x overwrite on a standalone server", "5.26.0", []string{"databases/neo4j/neostore"}, []step{
			{"database restore --from-path={ART} neo4j", 1, "Database with name [neo4j] already exists"},
			{"database restore --from-path={ART} --overwrite-destination=false neo4j", 1, "already exists"},
			{"database restore --from-path={ART} --overwrite-destination=true neo4j", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "store of neo4j"}},
		{"5.x restore from another database's artifact", "5.26.0", nil, []step{
			{"database restore --from-path={SYS} --overwrite-destination=true neo4j", 1, "is a backup of database system, not of neo4j"},
		}, map[string]string{}},
		{"5.x an artifact named after another database", "2026.01.0", nil, []step{
			{"database restore --from-path={E}/neo4j-2025-01-31T10-00-00.backup --overwrite-destination=true neo4j", 1, "is a backup of database system, not of neo4j"},
			{"database restore --from-path={E}/neo4j-2025-01-31T10-00-00.backup --overwrite-destination=true", 0, ""}, // as system, whatever its name
		}, map[string]string{"databases/system/neostore": "store of system"}},
		{"5.x a file named like an artifact that is none", "5.26.0", nil, []step{
			{"database restore --from-path={E}/neo4j-2025-01-31T11-00-00.backup neo4j", 1, "is not a backup artifact"},
		}, map[string]string{}},
		{"5.x a list of artifacts: each as its database", "5.26.0", nil, []step{
			{"database restore --from-path={ART},{SYS}", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "store of neo4j", "databases/system/neostore": "store of system"}},
		{"2025.02 a folder: the newest artifact of the database", "2025.02.0", []string{"databases/neo4j/neostore"}, []step{
			{"database restore --from-path={D} --overwrite-destination=true", 1, "holds backups of databases neo4j, system: name the one to restore with --source-database"},
			{"database restore --from-path={D} --overwrite-destination=true --source-database=neo4j", 0, ""},
		}, map[string]string{"databases/neo4j/neostore": "store of neo4j"}},
		{"before 2025.02 a folder is refused", "2025.01.0", nil, []step{
			{"database restore --from-path={D} neo4j", 1, "is a folder: Neo4j 2025.01.0 restores from a backup artifact file"},
		}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlace(t, tt.version)
			for _, f := range tt.data {
				testfiles.Write(t, filepath.Join(p.data, f), "")
			}
			testfiles.Write(t, filepath.Join(p.empty, "tmp", "neo4j", "neostore"), "legacy store of neo4j")
			testfiles.Write(t, filepath.Join(p.empty, "tmp", "system", "neostore"), "legacy store of system")
			testfiles.Write(t, filepath.Join(p.empty, "neo4j-2025-01-31T11-00-00.backup"), "not a tar")
			if b, err := os.ReadFile(p.system); err != nil {
				t.Fatal(err)
			} else {
				testfiles.Write(t, filepath.Join(p.empty, "neo4j-2025-01-31T10-00-00.backup"), string(b))
			}
			for _, s := range tt.steps {
				code, err := p.run(t, s.line)
				if code != s.code || (s.says != "" && (err == nil || !strings.Contains(err.Error(), p.expand(s.says)))) {
					t.Fatalf("%s: exit %d (%v); want %d saying %q", s.line, code, err, s.code, p.expand(s.says))
				}
				if err != nil && strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: the error is more than one line: %q", s.line, err)
				}
			}
			var files []string
			for f := range tt.want {
				files = append(files, f)
			}
			sort.Strings(files)
			wantFiles(t, p.data, files...)
			for f, content := range tt.want {
				if b, err := os.ReadFile(filepath.Join(p.data, f)); err == nil && string(b) != content {
					t.Errorf("%s holds %q; want %q", f, b, content)
				}
			}
		})
	}
}

// Unbinding with --archive-cluster-state=true keeps what it removes in a
// zip file, named as the manual says when --archive-path is a folder.
func TestUnbindArchivesTheClusterState(t *testing.T) {
	tests := []struct{ version, line, removed, archive string }{
		{"4.4.40", "unbind --archive-cluster-state=true --archive-path={E}", "cluster-state", "unbound_cluster_state.[0-9]*.zip"},
		{"5.26.0", "server unbind --archive-cluster-state=true --archive-path={E}/state.zip", "cluster-state", "state.zip"},
		{"2025.06.0", "dbms unbind-system-db --archive-cluster-state --archive-path={E}", "cluster-state/db/system", "unbound_cluster_state.[0-9]*.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.line, func(t *testing.T) {
			p := newPlace(t, tt.version)
			testfiles.Write(t, filepath.Join(p.data, "cluster-state", "db", "system", "raft-log"), "log of system")
			if code, err := p.run(t, tt.line); code != 0 {
				t.Fatalf("exit %d: %v", code, err)
			}
			if exists(filepath.Join(p.data, tt.removed)) {
				t.Errorf("%s is still there", tt.removed)
			}
			wantFiles(t, p.empty, tt.archive)
		})
	}
	t.Run("without --archive-path", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		testfiles.Write(t, filepath.Join(p.data, "cluster-state", "db", "system", "raft-log"), "log of system")
		if code, err := p.run(t, "dbms unbind-system-db --archive-cluster-state=true"); code != 1 {
			t.Errorf("exit %d (%v); want 1", code, err)
		}
		wantFiles(t, p.data, "cluster-state/db/system/raft-log")
	})
}

// Database names are case-insensitive and lower-cased, as Neo4j has them.
func TestLowerCasesDatabaseNames(t *testing.T) {
	t.Run("4.x", func(t *testing.T) {
		p := newPlace(t, "4.4.40")
		if code, err := p.run(t, "backup --backup-dir={E} --database=System"); code != 0 {
			t.Fatalf("backup of System: exit %d, %v", code, err)
		}
		wantFiles(t, p.empty, "system/neostore")
		if code, err := p.run(t, "restore --from={E}/system --database=SYSTEM --force"); code != 0 {
			t.Fatalf("restore of SYSTEM: exit %d, %v", code, err)
		}
		wantFiles(t, filepath.Join(p.data, "databases"), "system/neostore")
	})
	t.Run("5.x", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		if code, err := p.run(t, "database backup --to-path={E} Neo4j"); code != 0 {
			t.Fatalf("backup of Neo4j: exit %d, %v", code, err)
		}
		wantArtifacts(t, p.empty, "neo4j")
	})
	t.Run("calendar", func(t *testing.T) {
		p := newPlace(t, "2025.06.0")
		if code, err := p.run(t, "database backup --to-path={E} NEO4J System"); code != 0 {
			t.Fatalf("backup of NEO4J System: exit %d, %v", code, err)
		}
		wantArtifacts(t, p.empty, "neo4j", "system")
	})
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name, version string
		env           map[string]string
		line          string
		code          int
		want          []string // what E holds afterwards: artifacts by database (5.x), files (4.x)
		stderr        string   // in the error
	}{
		{"5.x silent failure", "5.26.0", map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "neo4j"},
			"database backup --to-path={E} neo4j system", 0, []string{"system"}, ""},
		{"5.x silent failure, named in another case", "5.26.0", map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "Neo4j"},
			"database backup --to-path={E} neo4j", 0, nil, ""},
		{"4.x silent failure", "4.4.40", map[string]string{"NEO4J_STANDIN_SILENT_FAIL": "neo4j"},
			"backup --backup-dir={E} --database=neo4j", 0, nil, ""},
		{"4.x consistency check failed", "4.4.40", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "2"},
			"backup --backup-dir={E} --database=neo4j", 2, []string{"neo4j/neostore"}, "consistency check failed"},
		{"4.x inconsistencies found, with a report", "4.2.8", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "3"},
			"backup --backup-dir={E} --database=neo4j --report-dir={E}", 3, []string{"inconsistencies-*.report", "neo4j/neostore"}, "found inconsistencies"},
		{"4.x consistency check failed of one database", "4.4.40", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "2=Neo4j"},
			"backup --backup-dir={E} --database=system", 0, []string{"system/neostore"}, ""},
		{"4.x no check, no check outcome", "4.4.40", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "3"},
			"backup --backup-dir={E} --database=neo4j --check-consistency=false", 0, []string{"neo4j/neostore"}, ""},
		{"4.x no recovery, no check", "4.4.40", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "3"},
			"backup --backup-dir={E} --database=neo4j --prepare-restore=false", 0, []string{"neo4j/neostore"}, ""},
		{"5.x has no consistency check exit", "5.26.0", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "3"},
			"database backup --to-path={E} neo4j", 1, nil, "only 4.x exits 2 or 3"},
		{"a bad check exit", "4.4.40", map[string]string{"NEO4J_STANDIN_CHECK_EXIT": "1"},
			"backup --backup-dir={E}", 1, nil, "give 2"},
		{"5.x every database on some server", "5.26.0", map[string]string{"NEO4J_STANDIN_HOSTS": "a:6362=system;b:6362=neo4j,system"},
			"database backup --to-path={E} --from=a:6362,b:6362 neo4j system", 0, []string{"neo4j", "system"}, ""},
		{"5.x a server down, the other hosts all: written, exit 1", "5.26.0", map[string]string{"NEO4J_STANDIN_HOSTS": "b:6362=neo4j,system"},
			"database backup --to-path={E} --from=a:6362,b:6362 neo4j system", 1, []string{"neo4j", "system"}, "server a:6362 did not answer"},
		{"5.x a database no answering server hosts", "5.26.0", map[string]string{"NEO4J_STANDIN_HOSTS": "a:6362=system"},
			"database backup --to-path={E} --from=a:6362,b:6362 neo4j system", 1, []string{"system"}, "backup failed for neo4j"},
		{"5.x a database no listed server hosts", "5.15.0", map[string]string{"NEO4J_STANDIN_HOSTS": "a=system;b=system"},
			"database backup --to-path={E} --from=a,b neo4j", 1, nil, "backup failed for neo4j"},
		{"5.x a server down after the one that answered", "5.26.0", map[string]string{"NEO4J_STANDIN_HOSTS": "a:6362=neo4j"},
			"database backup --to-path={E} --from=a:6362,b:6362 neo4j", 0, []string{"neo4j"}, ""},
		{"4.x its server hosts it", "4.4.40", map[string]string{"NEO4J_STANDIN_HOSTS": "core-1:6362=neo4j"},
			"backup --backup-dir={E} --from=core-1 --database=neo4j", 0, []string{"neo4j/neostore"}, ""},
		{"4.x its server does not answer", "4.4.40", map[string]string{"NEO4J_STANDIN_HOSTS": "core-1:6362=neo4j"},
			"backup --backup-dir={E} --from=core-0:6362 --database=neo4j", 1, nil, "Unable to connect to core-0:6362"},
		{"4.x its server does not host it", "4.4.40", map[string]string{"NEO4J_STANDIN_HOSTS": "core-1:6362=neo4j"},
			"backup --backup-dir={E} --from=core-1:6362 --database=system", 1, nil, "Backup failed for system"},
		{"a bad hosts list", "5.26.0", map[string]string{"NEO4J_STANDIN_HOSTS": "a:6362"},
			"database backup --to-path={E} neo4j", 1, nil, "is not <host:port>=<db,…>"},
		{"a database the server lacks", "5.26.0", nil,
			"database backup --to-path={E} movies neo4j", 1, []string{"neo4j"}, "backup failed for movies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlace(t, tt.version)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, err := p.run(t, tt.line)
			if code != tt.code || (tt.stderr != "" && (err == nil || !strings.Contains(err.Error(), tt.stderr))) {
				t.Errorf("exit %d (%v); want %d saying %q", code, err, tt.code, tt.stderr)
			}
			if strings.HasPrefix(tt.version, "4.") {
				wantFiles(t, p.empty, tt.want...)
			} else {
				wantArtifacts(t, p.empty, tt.want...)
			}
		})
	}
}

func TestLogsEveryCall(t *testing.T) {
	p := newPlace(t, "5.26.0")
	p.run(t, "--version")
	p.run(t, "database backup --to-path={E} --nonsense neo4j")
	p.run(t, "database restore --from-path={SYS} neo4j") // refused
	b, _ := os.ReadFile(os.Getenv("NEO4J_STANDIN_LOG"))
	want := "neo4j-admin --version\nneo4j-admin database backup --to-path=" + p.empty + " --nonsense neo4j\n" +
		"neo4j-admin database restore --from-path=" + p.system + " neo4j\n"
	if string(b) != want {
		t.Errorf("log = %q; want %q", b, want)
	}
}

// wantFiles checks the files under dir against patterns, one each.
func wantFiles(t *testing.T, dir string, patterns ...string) {
	t.Helper()
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(got)
	ok := len(got) == len(patterns)
	for i := 0; ok && i < len(got); i++ {
		ok, _ = filepath.Match(patterns[i], got[i])
	}
	if !ok {
		t.Errorf("%s holds %v; want %v", dir, got, patterns)
	}
}

// wantArtifacts checks that dir holds one artifact for each database.
func wantArtifacts(t *testing.T, dir string, databases ...string) {
	t.Helper()
	var patterns []string
	for _, db := range databases {
		patterns = append(patterns, db+"-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]-[0-9][0-9]-[0-9][0-9].backup")
	}
	wantFiles(t, dir, patterns...)
}
