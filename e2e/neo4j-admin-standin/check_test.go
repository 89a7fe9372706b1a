package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// The consistency checker takes exactly the options of its manual page on
// each version line, and refuses to check what is not there.
func TestConsistencyCheckOptions(t *testing.T) {
	const (
		ok     = 0
		failed = 1
		usage  = 2
	)
	all4 := "check-consistency --database=neo4j --verbose --additional-config={CONF} --check-graph=true --check-indexes=false" +
		" --check-index-structure=true --check-label-scan-store=true --check-property-owners=false --report-dir={E}"
	all5 := "database check --expand-commands --force --verbose --check-counts --check-graph=true --check-indexes=false" +
		" --check-property-owners --additional-config={CONF} --max-off-heap-memory=70% --report-path={E} --threads=2"
	tests := []struct {
		version, line string
		code          int
	}{
		{"4.4.40", all4, ok},
		{"4.0.12", "check-consistency --backup={D}/neo4j", ok},
		{"4.4.40", "check-consistency", ok}, // --database defaults to neo4j
		{"4.4.40", "check-consistency --database=movies", failed},
		{"4.4.40", "check-consistency --backup={E}", failed}, // no store there
		{"4.4.40", "check-consistency --database=neo4j --backup={D}/neo4j", usage},
		{"4.4.40", "check-consistency --check-graph", usage}, // =<true/false>
		{"4.4.40", "check-consistency --report-path={E}", usage},
		{"4.4.40", "database check neo4j", usage},
		{"5.26.0", all5 + " --from-path={D} neo4j", ok},
		{"5.26.0", "database check --from-path={D} --temp-path={E} system", ok},
		{"2025.01.0", "database check --from-path-data={DATA}/databases --from-path-txn={DATA}/transactions neo4j", ok},
		{"5.26.0", "database check neo4j", ok}, // the data directory's
		{"5.26.0", "database check --from-path={E} neo4j", failed},
		{"5.26.0", "database check --from-path={D} movies", failed},
		{"5.26.0", "database check --from-path={D}/missing neo4j", failed},
		{"5.26.0", "database check --from-path={D}", usage},
		{"5.26.0", "database check --from-path={D} neo4j system", usage},
		{"5.26.0", "database check --from-path={D} --from-path-data={DATA} --from-path-txn={DATA} neo4j", usage},
		{"5.26.0", "database check --from-path-data={DATA}/databases neo4j", usage},
		{"5.26.0", "database check --temp-path={E} neo4j", usage},
		{"5.26.0", "database check --report-dir={E} --from-path={D} neo4j", usage},
		{"5.26.0", "database check --max-off-heap-memory=lots --from-path={D} neo4j", usage},
		{"5.26.0", "database check --threads=0 --from-path={D} neo4j", usage},
		{"5.26.0", "check-consistency --database=neo4j", usage},
	}
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.line, func(t *testing.T) {
			p := newPlace(t, tt.version)
			testfiles.Write(t, filepath.Join(p.data, "databases", "neo4j", "neostore"), "restored store")
			if code, err := p.run(t, tt.line); code != tt.code {
				t.Errorf("exit %d (%v), want %d", code, err, tt.code)
			}
		})
	}
}

// NEO4J_STANDIN_INCONSISTENT makes the check find a database inconsistent:
// exit 1 and a report named as Neo4j names it, where the options say; the
// others stay clean.
func TestConsistencyCheckFindsInconsistencies(t *testing.T) {
	for _, tt := range []struct{ version, line, reports string }{
		{"4.4.40", "check-consistency --database=neo4j --report-dir={E}/r", "{E}/r"},
		{"5.26.0", "database check --from-path={D} --report-path={E}/r neo4j", "{E}/r"},
		{"2025.06.0", "database check --from-path={D} --report-path={E}/r/check.report neo4j", "{E}/r"},
	} {
		t.Run(tt.version, func(t *testing.T) {
			p := newPlace(t, tt.version)
			testfiles.Write(t, filepath.Join(p.data, "databases", "neo4j", "neostore"), "restored store")
			t.Setenv("NEO4J_STANDIN_INCONSISTENT", "Neo4j")
			code, err := p.run(t, tt.line)
			if code != 1 || !strings.Contains(err.Error(), "database neo4j") {
				t.Fatalf("exit %d (%v), want 1 naming database neo4j", code, err)
			}
			entries, _ := os.ReadDir(p.expand(tt.reports))
			if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), ".report") {
				t.Errorf("reports in %s: %v; want one .report", tt.reports, entries)
			}
			if !strings.HasSuffix(tt.line, ".report neo4j") && (len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "inconsistencies-")) {
				t.Errorf("report %v is not named inconsistencies-<time>.report", entries)
			}
			clean := strings.Replace(strings.Replace(tt.line, "neo4j", "system", -1), "{E}/r", "{E}/s", 1)
			if tt.version == "4.4.40" {
				testfiles.Write(t, filepath.Join(p.data, "databases", "system", "neostore"), "restored store")
			}
			if code, err := p.run(t, clean); code != 0 {
				t.Errorf("%s: exit %d (%v), want 0: only neo4j is inconsistent", clean, code, err)
			}
		})
	}
}

// NEO4J_CONF's neo4j.conf moves the data directory, as the drill does.
func TestDataDirectoryFromNeo4jConf(t *testing.T) {
	for _, tt := range []struct{ version, key, restore, check string }{
		{"4.4.40", "dbms.directories.data", "restore --from={D}/neo4j --database=neo4j", "check-consistency --database=neo4j"},
		{"5.26.0", "server.directories.data", "database restore --from-path={ART}", "database check neo4j"},
	} {
		t.Run(tt.version, func(t *testing.T) {
			p := newPlace(t, tt.version)
			scratch := t.TempDir()
			testfiles.Write(t, filepath.Join(scratch, "conf", "neo4j.conf"), tt.key+"="+filepath.Join(scratch, "data")+"\n")
			t.Setenv("NEO4J_CONF", filepath.Join(scratch, "conf"))
			if code, err := p.run(t, tt.check); code != 1 {
				t.Errorf("check before the restore: exit %d (%v), want 1: nothing to check", code, err)
			}
			if code, err := p.run(t, tt.restore); code != 0 {
				t.Fatalf("restore: exit %d (%v)", code, err)
			}
			if !isDir(filepath.Join(scratch, "data", "databases", "neo4j")) || exists(filepath.Join(p.data, "databases", "neo4j")) {
				t.Errorf("the restore did not land in the configured data directory only")
			}
			if code, err := p.run(t, tt.check); code != 0 {
				t.Errorf("check after the restore: exit %d (%v), want 0", code, err)
			}
		})
	}
}
