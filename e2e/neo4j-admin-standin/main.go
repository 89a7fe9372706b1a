// Command neo4j-admin-standin stands in for Neo4j Enterprise's neo4j-admin in
// tests and the demo, where no Neo4j Enterprise can run. It is built as
// "neo4j-admin" and put on the PATH of the containers that run a Neo4j image.
//
// It accepts exactly the documented syntax of backup, restore, unbind and
// --version for each version line — 4.0–4.1, 4.2–4.4 (adds
// --expand-commands), 5.0–5.15 (one database per backup), 5.16+ and calendar
// versions (several) — and fails on anything else, as the real one does. It
// reads and writes files in the layouts the real one uses: 4.x backups are a
// folder per database, 5.x backups are <db>-<yyyy-MM-ddTHH-mm-ss>.backup
// artifacts (here a tar of the database's files).
//
// Environment:
//
//	NEO4J_STANDIN_VERSION  the Neo4j version it plays (required), e.g. 4.2.8
//	NEO4J_STANDIN_LIVE     the "running server": a folder per database, what backup copies
//	NEO4J_STANDIN_DATA     the data directory restore writes into (default /data)
//	NEO4J_STANDIN_LOG      a file each invocation's arguments are appended to, one line each
package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// usage is a command line the real neo4j-admin would refuse: exit 2.
type usage struct{ msg string }

func (u usage) Error() string { return u.msg }

func main() {
	err := run(os.Args[1:])
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "neo4j-admin (stand-in):", err)
	if _, ok := err.(usage); ok {
		os.Exit(2)
	}
	os.Exit(1)
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
	expand := v.AtLeast(4, 2)
	switch args[0] {
	case "backup":
		f, err := parse(args[1:], flags{"from": value, "backup-dir": value, "database": value, "fallback-to-full": boolean,
			"pagecache": value, "check-consistency": boolean, "verbose": boolean, "additional-config": value}, expand, 0, 0)
		if err != nil {
			return err
		}
		if f.values["backup-dir"] == "" {
			return usage{"Missing required option '--backup-dir=<path>'"}
		}
		from := or(f.values["from"], "localhost:6362")
		if err := checkAddress(from); err != nil {
			return err
		}
		db := or(f.values["database"], "neo4j")
		return copyTree(filepath.Join(live(), db), filepath.Join(f.values["backup-dir"], db))
	case "restore":
		f, err := parse(args[1:], flags{"from": value, "database": value, "force": boolean, "verbose": boolean, "move": boolean}, expand, 0, 0)
		if err != nil {
			return err
		}
		if f.values["from"] == "" {
			return usage{"Missing required option '--from=<path>'"}
		}
		db := or(f.values["database"], "neo4j")
		target := filepath.Join(dataDir(), "databases", db)
		if exists(target) && f.values["force"] != "true" {
			return fmt.Errorf("Database with name [%s] already exists at %s; use --force to replace it", db, target)
		}
		if info, err := os.Stat(f.values["from"]); err != nil || !info.IsDir() {
			return fmt.Errorf("Source directory does not exist: %s", f.values["from"])
		}
		return replaceTree(f.values["from"], target)
	case "unbind":
		if _, err := parse(args[1:], flags{"verbose": boolean}, expand, 0, 0); err != nil {
			return err
		}
		return os.RemoveAll(filepath.Join(dataDir(), "cluster-state"))
	case "database", "server":
		return usage{fmt.Sprintf("Unmatched argument at index 0: '%s' (that is Neo4j 5 syntax; this is Neo4j %s)", args[0], v)}
	}
	return usage{fmt.Sprintf("unrecognized command: %s", args[0])}
}

func run5(v neo4j.Version, args []string) error {
	if len(args) < 2 {
		return usage{fmt.Sprintf("Unmatched argument at index 0: %q: Neo4j %s takes 'database backup', 'database restore', 'server unbind'", strings.Join(args, " "), v)}
	}
	switch args[0] + " " + args[1] {
	case "database backup":
		maxDBs := 1
		if v.AtLeast(5, 16) {
			maxDBs = -1
		}
		f, err := parse(args[2:], flags{"from": value, "to-path": value, "type": value, "compress": boolean, "verbose": boolean,
			"pagecache": value, "keep-failed": boolean, "parallel-recovery": boolean, "include-metadata": value, "additional-config": value}, true, 1, maxDBs)
		if err != nil {
			return err
		}
		if f.values["to-path"] == "" {
			return usage{"Missing required option: '--to-path=<path>'"}
		}
		for _, addr := range strings.Split(or(f.values["from"], "localhost:6362"), ",") {
			if err := checkAddress(addr); err != nil {
				return err
			}
		}
		stamp := time.Now().UTC().Format("2006-01-02T15-04-05")
		for _, db := range f.positional {
			if err := writeArtifact(filepath.Join(live(), db), filepath.Join(f.values["to-path"], db+"-"+stamp+".backup")); err != nil {
				return err
			}
		}
		return nil
	case "database restore":
		f, err := parse(args[2:], flags{"from-path": value, "overwrite-destination": boolean, "verbose": boolean, "restore-until": value,
			"to-path-data": value, "to-path-txn": value, "additional-config": value}, true, 0, 1)
		if err != nil {
			return err
		}
		from := f.values["from-path"]
		if from == "" {
			return usage{"Missing required option: '--from-path=<path>[,<path>...]'"}
		}
		if !strings.HasSuffix(from, ".backup") {
			return fmt.Errorf("%s is not a backup artifact (<database>-<time>.backup); the stand-in restores one artifact at a time", from)
		}
		db, _ := neo4j.DatabaseOf(filepath.Base(from), false)
		if len(f.positional) == 1 {
			db = f.positional[0]
		}
		target := filepath.Join(dataDir(), "databases", db)
		if exists(target) && f.values["overwrite-destination"] != "true" {
			return fmt.Errorf("Database with name [%s] already exists; use --overwrite-destination=true to replace it", db)
		}
		return readArtifact(from, target)
	case "server unbind":
		_, err := parse(args[2:], flags{"verbose": boolean}, true, 0, 0)
		if err != nil {
			return err
		}
		return os.RemoveAll(filepath.Join(dataDir(), "cluster-state"))
	}
	return usage{fmt.Sprintf("Unmatched argument at index 0: '%s' (Neo4j %s takes 'database backup', 'database restore', 'server unbind')", args[0], v)}
}

type kind int

const (
	value   kind = iota // --name=value
	boolean             // --name or --name=true|false
)

type flags map[string]kind

type parsed struct {
	values     map[string]string
	positional []string
}

// parse reads --name=value options and positional arguments, refusing any
// option the version does not document, and more or fewer positional
// arguments than minPos..maxPos (maxPos -1: any number).
func parse(args []string, known flags, expandCommands bool, minPos, maxPos int) (parsed, error) {
	p := parsed{values: map[string]string{}}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			p.positional = append(p.positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		k, ok := known[name]
		if name == "expand-commands" && expandCommands {
			k, ok = boolean, true
		}
		if !ok {
			return p, usage{fmt.Sprintf("Unknown option: '--%s'", name)}
		}
		switch {
		case k == value && !hasVal:
			return p, usage{fmt.Sprintf("Missing required parameter for option '--%s'", name)}
		case k == boolean && !hasVal:
			val = "true"
		case k == boolean && val != "true" && val != "false":
			return p, usage{fmt.Sprintf("Invalid value for option '--%s': '%s' is not a boolean", name, val)}
		}
		p.values[name] = val
	}
	if len(p.positional) < minPos {
		return p, usage{"Missing required parameter: '<database>'"}
	}
	if maxPos >= 0 && len(p.positional) > maxPos {
		return p, usage{fmt.Sprintf("Unmatched arguments: %s", strings.Join(p.positional[maxPos:], " "))}
	}
	return p, nil
}

func checkAddress(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usage{fmt.Sprintf("Invalid address '%s': expected host:port", addr)}
	}
	return nil
}

func live() string    { return os.Getenv("NEO4J_STANDIN_LIVE") }
func dataDir() string { return or(os.Getenv("NEO4J_STANDIN_DATA"), "/data") }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// copyTree copies the database folder src to dst, which must not exist.
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

// writeArtifact writes the database folder src as a tar file.
func writeArtifact(src, artifact string) error {
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", filepath.Base(src))
	}
	if err := os.MkdirAll(filepath.Dir(artifact), 0o755); err != nil {
		return err
	}
	f, err := os.Create(artifact)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = tw.AddFS(os.DirFS(src))
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readArtifact replaces the database folder dst with an artifact's files.
func readArtifact(artifact, dst string) error {
	f, err := os.Open(artifact)
	if err != nil {
		return fmt.Errorf("Backup artifact %s does not exist", artifact)
	}
	defer f.Close()
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s is not a backup artifact: %v", artifact, err)
		}
		target := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dst)+string(filepath.Separator)) {
			return fmt.Errorf("%s holds a path outside the database: %s", artifact, h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
}
