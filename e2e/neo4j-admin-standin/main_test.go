package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// place is one test's world: a live server holding neo4j and system, an
// existing backup folder D that already holds a 4.x backup of neo4j and a
// 5.x artifact of it, an empty folder E, a configuration file CONF and a
// data directory.
type place struct {
	live, dir, empty, conf, data, artifact string
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
	p.artifact = filepath.Join(p.dir, "neo4j-2025-01-31T10-00-00.backup")
	if err := writeArtifact(filepath.Join(p.live, "neo4j"), p.artifact); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NEO4J_STANDIN_VERSION", version)
	t.Setenv("NEO4J_STANDIN_LIVE", p.live)
	t.Setenv("NEO4J_STANDIN_DATA", p.data)
	t.Setenv("NEO4J_STANDIN_LOG", filepath.Join(tmp, "calls.log"))
	for _, k := range []string{"NEO4J_STANDIN_HOSTS", "NEO4J_STANDIN_SILENT_FAIL", "NEO4J_STANDIN_CHECK_EXIT"} {
		t.Setenv(k, "")
	}
	return p
}

// run runs a command line, {D}, {E}, {CONF}, {ART} and {T} standing for the place's
// folders, and returns its exit code.
func (p place) run(t *testing.T, line string) (int, error) {
	t.Helper()
	r := strings.NewReplacer("{ART}", p.artifact, "{CONF}", p.conf, "{D}", p.dir, "{E}", p.empty, "{T}", filepath.Join(p.empty, "tmp"))
	var args []string
	for _, a := range strings.Fields(line) {
		args = append(args, r.Replace(a))
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
		{"4.1.12", "restore --from={D}/neo4j --database=neo4j --force --move", usage},
		{"4.1.12", "restore --from={D}/neo4j --database=neo4j --force=true", usage},
		{"4.2.8", "restore --from={D}/neo4j --database=neo4j --force --move --to-data-directory={E} --to-data-tx-directory={E}", ok},
		{"4.2.8", "restore --from={D}/neo4j --database=neo4j --force --expand-commands", usage},
		{"4.3.23", "restore --from={D}/neo4j --database=neo4j --force --expand-commands", ok},
		{"4.2.8", "unbind --expand-commands", usage},
		{"4.2.8", "unbind --verbose", ok},
		{"4.3.23", "unbind --expand-commands --archive-cluster-state=true --archive-path={E}", ok},
		{"4.4.40", "database backup --to-path={D} neo4j", usage},

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

		// neo4j-admin database restore and server unbind, 5.x
		{"5.26.0", "database restore --from-path={ART} --overwrite-destination=true --verbose --expand-commands --restore-until=123 --to-path-data={E} --to-path-txn={E} --additional-config={CONF} neo4j", ok},
		{"5.23.0", "database restore --from-path={ART} --temp-path={T} neo4j", usage},
		{"5.24.0", "database restore --from-path={ART} --temp-path={T} neo4j", ok},
		{"2025.01.0", "database restore --from-path={ART} --source-database=neo4j neo4j", usage},
		{"2025.02.0", "database restore --from-path={ART} --source-database=neo4j neo4j", ok},
		{"5.26.0", "database restore --from-path={ART} --force neo4j", usage},
		{"5.26.0", "server unbind --expand-commands --verbose --archive-cluster-state=true --archive-path={E} --additional-config={CONF}", ok},
		{"5.26.0", "backup --backup-dir={D} --database=neo4j", usage},
	}
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.line, func(t *testing.T) {
			p := newPlace(t, tt.version)
			if code, err := p.run(t, tt.line); code != tt.code {
				t.Errorf("exit %d (%v); want %d", code, err, tt.code)
			}
		})
	}
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
	b, _ := os.ReadFile(os.Getenv("NEO4J_STANDIN_LOG"))
	want := "neo4j-admin --version\nneo4j-admin database backup --to-path=" + p.empty + " --nonsense neo4j\n"
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
