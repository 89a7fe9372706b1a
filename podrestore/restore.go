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
	// RoleHint is the role the pod's chart labels give it
	// (neo4j.RoleFromLabels), "" when they say none; the configuration
	// Neo4j reads in the container wins over it (neo4j.MemberRole).
	RoleHint neo4j.Role
	Stderr   io.Writer
	// Now is the clock, for the marker's time.
	Now func() time.Time
}

// Run restores the staged backup by the procedure of the image's version
// line and the member's role, writes the marker and removes the stage
// folder. Everything that can be refused is refused before neo4j-admin
// changes anything. On any error the marker is not written, so the pod
// fails in its init container and a retry restores again.
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
	role, why := neo4j.MemberRole(version, neo4j.ReadConfig(os.Environ(), os.DirFS("/")), o.RoleHint)
	dir := filepath.Join(o.Stage, plan.Dir)
	var backups []databaseBackup
	for _, db := range databases {
		path, err := backupPath(version, dir, db)
		if err != nil {
			return err
		}
		backups = append(backups, databaseBackup{db, path})
	}
	proc, err := procedure(version, role, plan, backups, usesCommandExpansion())
	if err != nil {
		return err
	}
	// Nothing is printed before this line, so that a refusal is the
	// container's one line.
	fmt.Fprintf(o.Stderr, "restoring backup %s into this Neo4j %s %s (%s) in %d steps\n", plan.BackupID, version, role, why, len(proc.steps))
	for _, w := range proc.warnings {
		fmt.Fprintln(o.Stderr, "warning:", w)
	}
	var done []string
	for i, s := range proc.steps {
		fmt.Fprintf(o.Stderr, "step %d of %d: %s: %s\n", i+1, len(proc.steps), s.what, strings.Join(s.args, " "))
		if err := admin(ctx, o.Stderr, s.args); err != nil {
			return fmt.Errorf("%s: %v", s.what, err)
		}
		done = append(done, strings.Join(s.args, " "))
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	marker := Marker{Request: plan.Request, From: plan.From, BackupID: plan.BackupID, Databases: databases, RestoredAt: now().UTC(), Role: role, Steps: done,
		Chain: plan.Chain, RestoreUntil: plan.RestoreUntil}
	if err := writeJSON(o.Marker, marker); err != nil {
		return fmt.Errorf("writing the restore marker %s: %v; the data is restored, but the next start would restore it again", o.Marker, err)
	}
	fmt.Fprintf(o.Stderr, "restored backup %s (%s); marker written to %s\n", plan.BackupID, strings.Join(databases, ", "), o.Marker)
	return os.RemoveAll(o.Stage)
}

// databaseBackup is a database to restore and its backup in the stage: the
// folder 4.x wrote, or a 5.x artifact.
type databaseBackup struct {
	database, path string
}

// step is one neo4j-admin call of a restore procedure.
type step struct {
	// what the call does, for the log line before it and for its error:
	// "restoring database neo4j from backup 2021-11-11T10:00:00Z".
	what string
	args []string
}

// restoreProcedure is what restoring a backup takes: the neo4j-admin calls
// in order, and what the log says besides.
type restoreProcedure struct {
	steps    []step
	warnings []string
}

// procedure decides the neo4j-admin calls that restore backups (system
// first, as pick orders them) into a member of role running Neo4j v, as the
// Operations Manual documents them for the version line (README "Restore a
// cluster"):
//
//   - standalone: each database restored over what is there (4.x
//     backup-restore/restore-backup.adoc: restore --force; 5.x and
//     calendar versions: database restore --overwrite-destination=true);
//   - 4.x core or read replica: neo4j-admin unbind first, then the same
//     (4.4 clustering/seed.adoc, tools/neo4j-admin/unbind.adoc: "you must
//     first run neo4j-admin unbind on each server", cores and read
//     replicas alike; a replica left on a newer store would diverge);
//   - 5.x or calendar-version cluster server: system only, the whole-cluster
//     procedure (clustering/multi-region-deployment/disaster-recovery.adoc
//     "Make the system database write-available",
//     clustering/unbind-system-database.adoc): dbms unbind-system-db, then
//     system restored with --overwrite-destination=true. A user database
//     cannot be brought into a 5.x cluster offline (restore-backup.adoc:
//     --overwrite-destination "is not safe on a cluster"; clustering/
//     databases.adoc "Restore a clustered database" seeds it in the running
//     cluster), so a restore that includes one is refused.
//
// expand adds --expand-commands where the version documents it. It runs
// nothing.
func procedure(v neo4j.Version, role neo4j.Role, plan *Plan, backups []databaseBackup, expand bool) (restoreProcedure, error) {
	var p restoreProcedure
	var users []string
	for _, b := range backups {
		if !isSystem(b.database) {
			users = append(users, b.database)
		}
	}
	switch {
	case v.Major == 4 && (role == neo4j.Core || role == neo4j.ReadReplica):
		p.steps = append(p.steps, step{
			what: "unbinding this cluster " + string(role) + " first, so that it joins its cluster with the restored store",
			args: neo4j.UnbindCommand(v, expand),
		})
	case v.Major != 4 && role == neo4j.Server:
		if len(users) > 0 {
			return p, seedingRefused(v, plan, users)
		}
		p.steps = append(p.steps, step{
			what: "unbinding this cluster server from its system database, so that it binds to the system database restored on every server",
			args: neo4j.UnbindSystemDBCommand(expand),
		})
	case role != neo4j.Standalone:
		return p, fmt.Errorf("a %s is no member of a Neo4j %s deployment; the pod's labels or configuration are not those of its image's version", role, v)
	}
	if !plan.RestoreUntil.IsZero() && plan.RestoreUntil.Nanosecond() != 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("neo4j-admin restores to whole seconds: %s restores what was committed before %s UTC",
			plan.RestoreUntil.UTC().Format(time.RFC3339Nano), plan.RestoreUntil.UTC().Format(neo4j.RestoreUntilLayout)))
	}
	for _, b := range backups {
		// b.path is the database's newest artifact of the chain, the
		// others beside it in the stage (backupPath).
		args, err := neo4j.RestoreUntilCommand(v, b.path, b.database, plan.RestoreUntil, expand)
		if err != nil {
			return p, fmt.Errorf("backup %s: %v; annotate a backup ID instead", plan.BackupID, err)
		}
		p.steps = append(p.steps, step{
			what: fmt.Sprintf("restoring database %s from backup %s%s%s", b.database, plan.BackupID, chainOf(plan.Chain), until(plan.RestoreUntil)),
			args: args,
		})
	}
	if len(users) > 0 && len(users) == len(backups) {
		create := "CREATE DATABASE " + users[0]
		if len(users) > 1 {
			create = "CREATE DATABASE for each"
		}
		p.warnings = append(p.warnings, fmt.Sprintf("restoring %s without system: a database this server's system database does not know is restored but not served until you run %s (Operations Manual, backup-restore/restore-backup.adoc)",
			strings.Join(users, ", "), create))
	}
	return p, nil
}

// seedingRefused is the error for user databases asked of a 5.x cluster
// server: what it would take, and what to do instead.
func seedingRefused(v neo4j.Version, plan *Plan, users []string) error {
	what := "database " + users[0]
	if len(users) > 1 {
		what = "databases " + strings.Join(users, ", ")
	}
	seed := "CALL dbms.cluster.recreateDatabase"
	if !v.AtLeast(5, 24) {
		seed = "DROP DATABASE and CREATE DATABASE … OPTIONS {seedURI: …}"
	}
	return fmt.Errorf("restoring %s into a Neo4j %s cluster needs seeding once the cluster runs, which neo4j-backup does not do yet (README \"Restore a cluster\"): set neo4j-backup.io/restore-databases: system to restore system on every server, then seed %s from its backup in %s/%s/ with %s",
		what, v, strings.Join(users, ", "), strings.TrimSuffix(plan.From, "/"), plan.BackupID, seed)
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
// newest 5.x artifact of it, which is the last of its chain when dir holds
// a chain (README "Restore a StatefulSet"): neo4j-admin database restore
// takes the chain's last artifact and finds the others beside it.
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
