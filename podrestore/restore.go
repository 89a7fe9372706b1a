package podrestore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Options are what the restore container is started with.
type Options struct {
	Stage     string   // the stage folder the fetch container filled
	Marker    string   // the marker file in the data volume
	Databases []string // restore only these; all in the backup when empty
	Stderr    io.Writer
	// Now is the clock, for the marker's time.
	Now func() time.Time
}

// Run restores the staged backup with neo4j-admin, writes the marker and
// removes the stage folder. On any error the marker is not written, so the
// pod fails in its init container and a retry restores again.
func Run(ctx context.Context, o Options) error {
	plan, err := ReadPlan(o.Stage)
	if err != nil {
		return err
	}
	if plan.Skip {
		fmt.Fprintf(o.Stderr, "restore of %s from %s was already done on this data volume; nothing to do\n", plan.Request, plan.From)
		return os.RemoveAll(o.Stage)
	}
	version, err := adminVersion(ctx)
	if err != nil {
		return err
	}
	databases, err := pick(plan, o.Databases)
	if err != nil {
		return err
	}
	expand := usesCommandExpansion()
	dir := filepath.Join(o.Stage, plan.Dir)
	for _, db := range databases {
		from, err := backupPath(version, dir, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "restoring database %s from backup %s with Neo4j %s\n", db, plan.BackupID, version)
		if err := admin(ctx, o.Stderr, neo4j.RestoreCommand(version, from, db, expand)); err != nil {
			return fmt.Errorf("restoring database %s from backup %s: %v", db, plan.BackupID, err)
		}
	}
	if version.Major == 4 && os.Getenv("NEO4J_dbms_mode") == "CORE" {
		fmt.Fprintln(o.Stderr, "unbinding this cluster core so it rejoins with the restored store")
		if err := admin(ctx, o.Stderr, neo4j.UnbindCommand(version, expand)); err != nil {
			return fmt.Errorf("unbinding the cluster core after the restore: %v", err)
		}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	marker := Marker{Request: plan.Request, From: plan.From, BackupID: plan.BackupID, Databases: databases, RestoredAt: now().UTC()}
	if err := writeJSON(o.Marker, marker); err != nil {
		return fmt.Errorf("writing the restore marker %s: %v; the data is restored, but the next start would restore it again", o.Marker, err)
	}
	fmt.Fprintf(o.Stderr, "restored backup %s (%s); marker written to %s\n", plan.BackupID, strings.Join(databases, ", "), o.Marker)
	return os.RemoveAll(o.Stage)
}

// pick is the databases to restore, system first: Neo4j needs its system
// database before the others. Names match as Neo4j matches them,
// case-insensitively; the backup's own spelling is used.
func pick(plan *Plan, wanted []string) ([]string, error) {
	dbs := plan.Databases
	if len(wanted) > 0 {
		dbs = nil
		for _, w := range wanted {
			i := slices.IndexFunc(plan.Databases, func(db string) bool { return strings.EqualFold(db, w) })
			if i < 0 {
				return nil, fmt.Errorf("database %s is not in backup %s (it has %s); fix neo4j-backup.io/restore-databases", w, plan.BackupID, strings.Join(plan.Databases, ", "))
			}
			if !slices.Contains(dbs, plan.Databases[i]) {
				dbs = append(dbs, plan.Databases[i])
			}
		}
	}
	if len(dbs) == 0 {
		return nil, fmt.Errorf("backup %s holds no database", plan.BackupID)
	}
	dbs = slices.Clone(dbs)
	sort.SliceStable(dbs, func(i, j int) bool { return isSystem(dbs[i]) && !isSystem(dbs[j]) })
	return dbs, nil
}

func isSystem(db string) bool { return strings.EqualFold(db, "system") }

// backupPath finds database's backup in dir: the folder 4.x wrote, or the
// newest 5.x artifact of it.
func backupPath(v neo4j.Version, dir, database string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("reading the staged backup: %v", err)
	}
	var found []string
	for _, e := range entries {
		if db, ok := neo4j.DatabaseOf(e.Name(), e.IsDir()); ok && strings.EqualFold(db, database) && e.IsDir() == (v.Major == 4) {
			found = append(found, e.Name())
		}
	}
	if len(found) == 0 {
		layout := "a <database>-<time>.backup artifact (Neo4j 5 and later)"
		if v.Major == 4 {
			layout = "a folder named after it (Neo4j 4)"
		}
		return "", fmt.Errorf("the backup has no %s for database %s; was it taken with another Neo4j major version than this pod runs (%s)?", layout, database, v)
	}
	sort.Strings(found) // artifact names end in their time: the last is the newest
	return filepath.Join(dir, found[len(found)-1]), nil
}

func adminVersion(ctx context.Context) (neo4j.Version, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, neo4j.VersionCommand[0], neo4j.VersionCommand[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return neo4j.Version{}, fmt.Errorf("running neo4j-admin --version: %v: %s; the restore container must run the pod's Neo4j Enterprise image", err, lastLine(out.String()))
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if v, err := neo4j.ParseVersion(line); err == nil {
			return v, nil
		}
	}
	return neo4j.Version{}, fmt.Errorf("neo4j-admin --version printed no version: %q", lastLine(out.String()))
}

// admin runs one neo4j-admin invocation, its output going to the log; the
// error carries the last line it printed.
func admin(ctx context.Context, log io.Writer, argv []string) error {
	var tail bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastLine(tail.String()))
	}
	return nil
}

// usesCommandExpansion reports whether Neo4j's configuration uses command
// expansion (a value written $(…)), in which case neo4j-admin refuses to
// read it without --expand-commands. The official chart's does.
func usesCommandExpansion() bool {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NEO4J_") && strings.Contains(kv, "$(") {
			return true
		}
	}
	var confs []string
	if dir := os.Getenv("NEO4J_CONF"); dir != "" {
		confs = append(confs, dir)
	}
	if home := os.Getenv("NEO4J_HOME"); home != "" {
		confs = append(confs, filepath.Join(home, "conf"))
	}
	confs = append(confs, "/config", "/conf")
	found := false
	for _, c := range confs {
		// A folder may hold neo4j.conf, or (the official chart) one file per
		// setting, or a folder of them; two levels cover both.
		_ = filepath.WalkDir(c, func(p string, d fs.DirEntry, err error) error {
			if err != nil || found {
				return filepath.SkipDir
			}
			if d.IsDir() && strings.Count(strings.TrimPrefix(p, c), "/") > 2 {
				return filepath.SkipDir
			}
			if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Size() < 1<<20 {
				b, err := os.ReadFile(p)
				found = err == nil && bytes.Contains(b, []byte("$("))
			}
			return nil
		})
	}
	return found
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
