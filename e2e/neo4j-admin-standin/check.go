package main

// The consistency checker, as the Operations Manual documents it on each
// version line (tools/neo4j-admin/consistency-checker.adoc):
//
//	neo4j-admin check-consistency (4.4; the page is the same on 4.x)
//	  ([--database=<database>] | [--backup=<path>]) --verbose
//	  --additional-config=<path> --check-graph=<true/false>
//	  --check-indexes=<true/false> --check-index-structure=<true/false>
//	  --check-label-scan-store=<true/false> --check-property-owners=<true/false>
//	  --report-dir=<path>
//	  "If the consistency checker finds errors, it will exit with an exit
//	  code of 1 and write a report file" inconsistencies-YYYY-MM-DD.HH24.MI.SS.report
//	  in --report-dir (default the working directory).
//	neo4j-admin database check (5.x and calendar versions)
//	  -h --expand-commands --force --verbose --check-counts[=true|false]
//	  --check-graph[=…] --check-indexes[=…] --check-property-owners[=…]
//	  --additional-config=<file> --max-off-heap-memory=<size>
//	  --report-path=<path> --threads=<n>
//	  [[--from-path-data=<path> --from-path-txn=<path>] | [--from-path=<path> [--temp-path=<path>]]]
//	  <database>
//	  Errors: "it exits with an exit code other than 0" (here 1) and writes
//	  the report in --report-path, a folder unless it ends in .report.
//
// NEO4J_STANDIN_INCONSISTENT=<db,…> makes the stores of these databases
// inconsistent: checking one fails as above. What is not there is refused
// (exit 1): a database the data directory does not hold, a --backup folder
// without a store, a --from-path folder without an artifact of the database.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

func check4Options() options {
	truth := oneOf("true", "false")
	return options{
		"database":               {kind: value},
		"backup":                 {kind: value},
		"verbose":                {kind: flag},
		"additional-config":      {kind: value, check: existingFile},
		"check-graph":            {kind: value, check: truth},
		"check-indexes":          {kind: value, check: truth},
		"check-index-structure":  {kind: value, check: truth},
		"check-label-scan-store": {kind: value, check: truth},
		"check-property-owners":  {kind: value, check: truth},
		"report-dir":             {kind: value},
	}
}

// checkConsistency4 is neo4j-admin check-consistency of a stopped
// database in the data directory, or of a backup folder.
func checkConsistency4(args []string) error {
	f, err := parse(args, check4Options(), 0, 0)
	if err != nil {
		return err
	}
	if f.has("database") && f.has("backup") {
		return usage{"--backup cannot be used together with --database"}
	}
	var db, store string
	if p := f.one("backup"); p != "" {
		if !isFile(filepath.Join(p, neo4j.StoreFile)) {
			return fmt.Errorf("%s holds no database store to check", p)
		}
		db, store = filepath.Base(p), p
	} else {
		if db, err = databaseName(or(f.one("database"), "neo4j"), false); err != nil {
			return err
		}
		store = filepath.Join(dataDir(), "databases", db)
		if !isFile(filepath.Join(store, neo4j.StoreFile)) {
			return fmt.Errorf("Database '%s' does not exist in %s", db, filepath.Dir(store))
		}
	}
	return judgeConsistency(db, store, or(f.one("report-dir"), "."), false)
}

func check5Options() options {
	return options{
		"help":                  {kind: flag},
		"expand-commands":       {kind: flag},
		"force":                 {kind: flag},
		"verbose":               {kind: flag},
		"check-counts":          {kind: boolean},
		"check-graph":           {kind: boolean},
		"check-indexes":         {kind: boolean},
		"check-property-owners": {kind: boolean},
		"additional-config":     {kind: value, check: existingFile},
		"max-off-heap-memory":   {kind: value, check: offHeap},
		"report-path":           {kind: value},
		"threads":               {kind: value, check: positive},
		"from-path-data":        {kind: value},
		"from-path-txn":         {kind: value},
		"from-path":             {kind: value},
		"temp-path":             {kind: value},
	}
}

// databaseCheck5 is neo4j-admin database check of a stopped database in
// the data directory (or --from-path-data), or of the artifacts in a
// --from-path folder.
func databaseCheck5(args []string) error {
	known := check5Options()
	f, err := parse(args, known, 0, 1)
	if err != nil {
		return err
	}
	if f.on("help") {
		return help("database check", known)
	}
	if len(f.positional) == 0 {
		return usage{"Missing required parameter: '<database>'"}
	}
	db, err := databaseName(f.positional[0], false)
	if err != nil {
		return err
	}
	local := f.has("from-path-data") || f.has("from-path-txn")
	switch {
	case local && f.has("from-path"):
		return usage{"Error: --from-path-data and --from-path-txn are mutually exclusive with --from-path"}
	case f.has("from-path-data") != f.has("from-path-txn"):
		return usage{"Error: Missing required argument(s): --from-path-data and --from-path-txn go together"}
	case f.has("temp-path") && !f.has("from-path"):
		return usage{"Error: --temp-path goes with --from-path"}
	}
	report := or(f.one("report-path"), ".")
	if from := f.one("from-path"); from != "" {
		if strings.Contains(from, "://") {
			return fmt.Errorf("the stand-in checks local folders only, not %s", from)
		}
		if !isDir(from) {
			return fmt.Errorf("Directory '%s' does not exist", from)
		}
		found, err := artifactsIn(from)
		if err != nil {
			return err
		}
		for _, a := range found {
			if a.Database == db {
				return judgeConsistency(db, a.path, report, true)
			}
		}
		return fmt.Errorf("%s holds no backup or dump of database %s to check", from, db)
	}
	store := filepath.Join(or(f.one("from-path-data"), filepath.Join(dataDir(), "databases")), db)
	if !isDir(store) {
		return fmt.Errorf("Database '%s' does not exist in %s", db, filepath.Dir(store))
	}
	return judgeConsistency(db, store, report, true)
}

// judgeConsistency ends a check of database db's store (or artifact):
// clean, or, when NEO4J_STANDIN_INCONSISTENT names it, a report and exit 1.
func judgeConsistency(db, store, reportPath string, reportMayBeFile bool) error {
	if !inconsistent(db) {
		fmt.Printf("Consistency check of %s (%s): no inconsistencies found\n", db, store)
		return nil
	}
	report := filepath.Join(reportPath, "inconsistencies-"+time.Now().UTC().Format("2006-01-02.15.04.05")+".report")
	if reportMayBeFile && strings.HasSuffix(reportPath, ".report") {
		report = reportPath
	}
	if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(report, []byte("ERROR: database "+db+": inconsistencies found in "+store+" (stand-in)\n"), 0o644); err != nil {
		return err
	}
	return exitCode{1, fmt.Sprintf("Inconsistencies found in database %s: see %s", db, report)}
}

func inconsistent(db string) bool {
	for _, d := range strings.Split(os.Getenv("NEO4J_STANDIN_INCONSISTENT"), ",") {
		if strings.ToLower(strings.TrimSpace(d)) == db {
			return true
		}
	}
	return false
}

var offHeapPattern = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?\s*([kKmMgGtT][iI]?[bB]?|[bB])?|[0-9]{1,3}%)$`)

func offHeap(s string) error {
	if offHeapPattern.MatchString(s) {
		return nil
	}
	return errors.New("'" + s + "' is not a size like 20G or a share like 70%")
}

func positive(s string) error {
	if n, err := strconv.Atoi(s); err != nil || n < 1 {
		return fmt.Errorf("'%s' is not a number of threads", s)
	}
	return nil
}

// configuredDataDir is the data directory neo4j.conf in $NEO4J_CONF sets
// (4.x dbms.directories.data, 5.x server.directories.data), if it does:
// the drill points neo4j-admin at a scratch one that way.
func configuredDataDir() string {
	dir := os.Getenv("NEO4J_CONF")
	if dir == "" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, "neo4j.conf"))
	if err != nil {
		return "" // absent, or the official charts' folder of one file per setting
	}
	key := "server.directories.data"
	if v, err := neo4j.ParseVersion(os.Getenv("NEO4J_STANDIN_VERSION")); err == nil && v.Major == 4 {
		key = "dbms.directories.data"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
