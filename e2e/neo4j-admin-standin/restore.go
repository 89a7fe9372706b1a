package main

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// A member's cluster state lives on its data volume, as Neo4j keeps it:
//
//	4.x   <data>/cluster-state/…               (a core's or read replica's
//	                                            raft log, member id, …)
//	5.x+  <data>/cluster-state/db/<database>/  (per database) and
//	      <data>/server_id
//
// and decides what restore accepts: the Operations Manual's procedures
// are the only ways a backup goes onto a cluster member.
func clusterState() string { return filepath.Join(dataDir(), "cluster-state") }

func databaseClusterState(db string) string { return filepath.Join(clusterState(), "db", db) }

func restore4Options(v neo4j.Version) options {
	o := options{"from": {kind: value}, "verbose": {kind: flag}, "database": {kind: value}, "force": {kind: flag}}
	if v.AtLeast(4, 2) {
		o["move"] = option{kind: flag}
		o["to-data-directory"] = option{kind: value}
		o["to-data-tx-directory"] = option{kind: value}
	}
	if v.AtLeast(4, 3) {
		o["expand-commands"] = option{kind: flag}
	}
	return o
}

// restore4 is neo4j-admin restore of one backup folder, a store copy as
// backup4 writes it, into <data>/databases/<database>.
func restore4(v neo4j.Version, args []string) error {
	f, err := parse(args, restore4Options(v), 0, 0)
	if err != nil {
		return err
	}
	from := f.one("from")
	if from == "" {
		return usage{"Missing required option '--from=<path>'"}
	}
	if strings.Contains(from, ",") {
		return fmt.Errorf("the stand-in restores one backup folder at a time, not %s", from)
	}
	db, err := databaseName(or(f.one("database"), "neo4j"), false)
	if err != nil {
		return err
	}
	if info, err := os.Stat(from); err != nil || !info.IsDir() {
		return fmt.Errorf("Source directory does not exist [%s]", from)
	}
	// Neo4j takes a folder for a backup only if it holds a store: a folder
	// of several databases' backups is not one.
	if !isFile(filepath.Join(from, "neostore")) {
		return fmt.Errorf("Source directory is not a database backup [%s]: give the folder neo4j-admin backup wrote for one database, which holds its neostore", from)
	}
	target := filepath.Join(or(f.one("to-data-directory"), filepath.Join(dataDir(), "databases")), db)
	if exists(target) && !f.on("force") {
		return fmt.Errorf("Database with name [%s] already exists at %s; use --force to replace it", db, target)
	}
	// The offline seed procedure (tools/neo4j-admin/unbind.adoc): unbind
	// every member before restoring, or store and cluster state go out of
	// sync ("logical corruptions").
	if notEmpty(clusterState()) {
		return fmt.Errorf("this member is bound to a cluster, its state in %s: run neo4j-admin unbind first, as the Operations Manual's offline seed procedure does, or store and cluster state go out of sync", clusterState())
	}
	if err := replaceTree(from, target); err != nil {
		return err
	}
	if f.on("move") {
		return os.RemoveAll(from)
	}
	return nil
}

// unbind4 is neo4j-admin unbind: it removes the member's cluster state.
// The manual of 4.0–4.2 (tools/unbind.adoc) documents the command without
// any option; 4.3 (tools/neo4j-admin/unbind.adoc) adds four.
func unbind4(v neo4j.Version, args []string) error {
	known := options{}
	if v.AtLeast(4, 3) {
		known["verbose"] = option{kind: flag}
		known["expand-commands"] = option{kind: flag}
		known["archive-cluster-state"] = option{kind: value, check: oneOf("true", "false")} // =<true/false>
		known["archive-path"] = option{kind: value}
	}
	f, err := parse(args, known, 0, 0)
	if err != nil {
		return err
	}
	return removeClusterState(f, clusterState())
}

// restore5Options are neo4j-admin database restore's options in v's manual.
func restore5Options(v neo4j.Version) options {
	o := options{
		"from-path":             {kind: value},
		"overwrite-destination": {kind: boolean},
		"restore-until":         {kind: value, check: recoveryCriteria},
		"to-path-data":          {kind: value},
		"to-path-txn":           {kind: value},
		"verbose":               {kind: flag},
		"expand-commands":       {kind: flag},
		"additional-config":     {kind: value, check: existingFile},
		"help":                  {kind: flag},
	}
	if v.AtLeast(5, 24) {
		o["temp-path"] = option{kind: value}
	}
	if v.AtLeast(2025, 2) {
		o["source-database"] = option{kind: value}
	}
	return o
}

// recoveryCriteria checks --restore-until: a transaction ID or a UTC time
// (planRestore applies it).
func recoveryCriteria(s string) error {
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		return nil
	}
	if _, err := time.Parse(time.DateTime, s); err == nil {
		return nil
	}
	return fmt.Errorf("'%s' is neither a transaction ID (123) nor a UTC time (\"2021-09-11 10:15:30\")", s)
}

var cloudPath = regexp.MustCompile(`^[a-z0-9]+://`)

// restore5 is neo4j-admin database restore: --from-path is one artifact
// (restored as <database>, which must be its own), a comma list of them
// (each restored as its database), or from 2025.02 a folder of artifacts,
// of which the newest of the database (--source-database, when the folder
// holds several) is restored.
func restore5(v neo4j.Version, args []string) error {
	known := restore5Options(v)
	f, err := parse(args, known, 0, 1)
	if err != nil {
		return err
	}
	if f.on("help") {
		return help("database restore", known)
	}
	from := f.one("from-path")
	if from == "" {
		return usage{"Missing required option: '--from-path=<path>[,<path>...]'"}
	}
	paths := strings.Split(from, ",")
	source := ""
	if f.has("source-database") {
		if source, err = databaseName(f.one("source-database"), false); err != nil {
			return err
		}
	}
	var restores []artifact // each to restore, as Database
	for _, p := range paths {
		switch {
		case cloudPath.MatchString(p):
			return fmt.Errorf("the stand-in restores from local files only, not %s", p)
		case isDir(p) && len(paths) > 1:
			return fmt.Errorf("%s is a folder: a comma list of --from-path holds backup artifact files", p)
		case isDir(p) && !v.AtLeast(2025, 2):
			return fmt.Errorf("%s is a folder: Neo4j %s restores from a backup artifact file (a folder of them from 2025.02); give the artifact's path", p, v)
		case isDir(p):
			a, err := newestIn(p, source)
			if err != nil {
				return err
			}
			restores = append(restores, a)
		default:
			a, err := readHeader(p)
			if err != nil {
				return err
			}
			if source != "" && a.Database != source {
				return fmt.Errorf("%s is a backup of database %s, not of --source-database %s", p, a.Database, source)
			}
			restores = append(restores, a)
		}
	}
	if len(f.positional) == 1 && (len(paths) > 1 || isDir(paths[0])) {
		return usage{"the <database> parameter is only allowed if --from-path points to a single artifact"}
	}
	if (f.has("to-path-data") || f.has("to-path-txn")) && len(paths) > 1 {
		return usage{"--to-path-data and --to-path-txn are only allowed if --from-path points to one path"}
	}
	if len(f.positional) == 1 {
		db, err := databaseName(f.positional[0], false)
		if err != nil {
			return err
		}
		// The manual lets <database> rename; the stand-in refuses it, since
		// restoring one database's backup as another is the mistake a
		// restore procedure must never make.
		if a := restores[0]; a.Database != db {
			return fmt.Errorf("%s is a backup of database %s, not of %s: restore each database from its own artifact", a.path, a.Database, db)
		}
	}
	dataBase := or(f.one("to-path-data"), filepath.Join(dataDir(), "databases"))
	for _, a := range restores {
		target := filepath.Join(dataBase, a.Database)
		overwrite := f.on("overwrite-destination")
		if exists(target) && !overwrite {
			return fmt.Errorf("Database with name [%s] already exists; use --overwrite-destination=true to replace it", a.Database)
		}
		if state := databaseClusterState(a.Database); overwrite && exists(state) {
			return fmt.Errorf("--overwrite-destination=true on database %s of a cluster server (its cluster state in %s): the manual says the option \"is not safe on a cluster since clusters have an additional state that would be inconsistent with the restored database\"; restore system after neo4j-admin dbms unbind-system-db, other databases into new databases or by seeding", a.Database, state)
		}
	}
	// Every chain is found and cut before any store is written: a refusal
	// leaves the data directory as it was.
	var stores []restoredStore
	for _, a := range restores {
		s, err := planRestore(a, f.one("restore-until"))
		if err != nil {
			return err
		}
		stores = append(stores, s)
	}
	for _, s := range stores {
		dst := filepath.Join(dataBase, s.full.Database)
		if err := readArtifact(s.full.path, dst); err != nil {
			return err
		}
		if s.rewriteLog {
			if err := os.WriteFile(filepath.Join(dst, txLog), logBytes(s.txs), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoredStore is what restoring one artifact writes: the full backup's
// store with the transaction log txs (rewriteLog: other than the full
// backup's own).
type restoredStore struct {
	full       artifact
	txs        []transaction
	rewriteLog bool
}

// planRestore finds the chain ending at a, replays its transactions and
// stops at until (--restore-until, "" for the chain's end). The manual:
// a transaction ID restores "up to, but not including" it; a time,
// "transactions that were committed before" it (UTC). The stand-in refuses
// a point the chain cannot give: before the full backup's last transaction
// (its store cannot be taken back), or past the chain's end (the manual:
// "pass the backup artifact that contains the data up to that date"), that
// is a transaction ID above its highest + 1 or a time after the last
// artifact was taken.
func planRestore(a artifact, until string) (restoredStore, error) {
	chain, err := chainOf(a)
	if err != nil {
		return restoredStore{}, err
	}
	s := restoredStore{full: chain[0]}
	txs, hasLog, err := artifactLog(chain[0])
	if err != nil {
		return s, err
	}
	fullEnd := chain[0].HighestTx
	for _, link := range chain[1:] {
		more, _, err := artifactLog(link)
		if err != nil {
			return s, err
		}
		txs = append(txs, more...)
		s.rewriteLog = s.rewriteLog || len(more) > 0
	}
	last := chain[len(chain)-1]
	s.txs = txs
	if until == "" {
		return s, nil
	}
	kept := len(txs)
	if id, err := strconv.ParseInt(until, 10, 64); err == nil {
		if id <= fullEnd || id > last.end()+1 {
			return s, fmt.Errorf("--restore-until=%s is outside the backup chain of %s: it restores up to, not including, a transaction from %d (after the full backup's last, %d) to %d (after the chain's last); give one in that range or another chain", until, a.path, fullEnd+1, fullEnd, last.end()+1)
		}
		kept = slices.IndexFunc(txs, func(tx transaction) bool { return tx.id >= id })
	} else {
		at, err := time.Parse(time.DateTime, until)
		if err != nil {
			return s, usage{fmt.Sprintf("Invalid value for option '--restore-until': %v", recoveryCriteria(until))}
		}
		if i := slices.IndexFunc(txs, func(tx transaction) bool { return tx.id == fullEnd }); (i >= 0 && !txs[i].at.Before(at)) || at.After(last.Time) {
			return s, fmt.Errorf("--restore-until=%q is outside the backup chain of %s: it restores what was committed before a UTC time after the full backup's last transaction and no later than %s, when the chain's last artifact was taken; give one in that range or another chain", until, a.path, last.Time.UTC().Format(time.DateTime))
		}
		kept = slices.IndexFunc(txs, func(tx transaction) bool { return !tx.at.Before(at) })
	}
	if kept >= 0 && kept < len(txs) {
		s.txs, s.rewriteLog = txs[:kept], true
	}
	s.rewriteLog = s.rewriteLog && (hasLog || len(s.txs) > 0)
	return s, nil
}

// newestIn is the newest artifact in folder dir of database db, or of the
// only database the folder holds when db is "".
func newestIn(dir, db string) (artifact, error) {
	found, err := artifactsIn(dir)
	if err != nil {
		return artifact{}, err
	}
	dbs := databasesOf(found)
	slices.Sort(dbs)
	switch {
	case db == "" && len(dbs) > 1:
		return artifact{}, fmt.Errorf("%s holds backups of databases %s: name the one to restore with --source-database", dir, strings.Join(dbs, ", "))
	case db == "" && len(dbs) == 1:
		db = dbs[0]
	}
	for _, a := range found {
		if a.Database == db {
			return a, nil
		}
	}
	return artifact{}, fmt.Errorf("%s holds no backup artifact of database %s", dir, or(db, "any"))
}

// unbind5Options are the options of server unbind and dbms unbind-system-db,
// alike in the manual (tools/neo4j-admin/unbind.adoc on 5.x,
// clustering/unbind.adoc on dev, clustering/unbind-system-database.adoc).
func unbind5Options() options {
	return options{"verbose": {kind: flag}, "expand-commands": {kind: flag}, "help": {kind: flag},
		"archive-cluster-state": {kind: boolean}, "archive-path": {kind: value}, "additional-config": {kind: value, check: existingFile}}
}

// serverUnbind is neo4j-admin server unbind: the server's whole cluster
// state and its identity go; it rejoins as a new server.
func serverUnbind(args []string) error {
	known := unbind5Options()
	f, err := parse(args, known, 0, 0)
	if err != nil {
		return err
	}
	if f.on("help") {
		return help("server unbind", known)
	}
	if err := removeClusterState(f, clusterState()); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dataDir(), "server_id"))
}

// unbindSystemDB is neo4j-admin dbms unbind-system-db: only the system
// database's cluster state goes, so that a restored system can be bound.
func unbindSystemDB(args []string) error {
	known := unbind5Options()
	f, err := parse(args, known, 0, 0)
	if err != nil {
		return err
	}
	if f.on("help") {
		return help("dbms unbind-system-db", known)
	}
	return removeClusterState(f, databaseClusterState("system"))
}

// removeClusterState removes the folder state, first archiving it when
// --archive-cluster-state=true.
func removeClusterState(f parsed, state string) error {
	if f.on("archive-cluster-state") && exists(state) {
		dest := f.one("archive-path")
		if dest == "" {
			return fmt.Errorf("the stand-in archives cluster state only to an --archive-path")
		}
		// The manual: "Destination (file or folder)"; in a folder, the
		// archive is unbound_cluster_state.<YYYYMMDDHH24MM>.zip.
		if isDir(dest) {
			dest = filepath.Join(dest, "unbound_cluster_state."+time.Now().UTC().Format("200601021504")+".zip")
		}
		if err := zipTree(state, dest); err != nil {
			return fmt.Errorf("archiving the cluster state to %s: %v", dest, err)
		}
	}
	return os.RemoveAll(state)
}

// zipTree writes the folder src as a zip file dst.
func zipTree(src, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(src), p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}
