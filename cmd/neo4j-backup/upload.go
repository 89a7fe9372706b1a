package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// uploadOptions are upload's flags.
type uploadOptions struct {
	from, to, id, idFile string
	databases            string
	neo4jVersion         string
	adminExit            string
	keep, inUse          string
	terminationLog       string
	// plan, inspect and inspectExit make a backup part of a chain (5.x,
	// calendar versions): backup-plan's decision, --inspect-path's output
	// and its exit code.
	plan, inspect, inspectExit string
	s3                         *s3Flags
}

func newUploadCommand() *cobra.Command {
	var o uploadOptions
	cmd := &cobra.Command{
		Use:   "upload --from DIR --to s3://bucket/prefix [--id ID] [--keep N|AGE]",
		Short: "Upload a backup folder to S3, with a checksummed manifest",
		Long: `Upload the backup in DIR to s3://bucket/prefix/<backup-id>/ in parallel
multipart uploads, hashing as it goes, and write its manifest (every file's
size and SHA-256) last: a backup without a manifest is incomplete and never
restored. Prints the backup ID. With --keep, then prunes as prune does.

With --databases, first checks that DIR holds a backup of each (5.x: a
<database>-<time>.backup artifact, 4.x: a folder with a store), whatever
neo4j-admin exited with; with --neo4j-admin-exit, also reads neo4j-admin's
exit codes. A backup that fails the check is not uploaded at all and
nothing is pruned. Problems that leave a good backup (4.x: consistency
check failed, exit 2 or 3; 5.x: exit 1 with every artifact written) are
recorded in the manifest as warnings and printed on stderr.

With --plan (5.x and calendar versions: what backup-plan decided, maybe
rewritten by the backup script as a full backup when the differential one
failed) and --inspect (the output of neo4j-admin database backup
--inspect-path of DIR, its exit code in --inspect-exit), the backup is
recorded as part of a chain: its type, its parent and, from the table, each
new artifact's database, transaction range and time. The parent's artifacts
that backup-plan fetched into DIR are not uploaded again. Every database
must have a new artifact; a differential backup's must be differential ones
of the parent's databases whose lowest transaction follows the highest of
the parent's chain, else the chain would be broken and nothing is uploaded.
A full backup taken because the chain could not be built on records why
as a warning.

With --termination-log, also writes the outcome there as one JSON object
(under 4 KiB): {"backupId", "type" (full or differential), "databases",
"size", "durationSeconds", "warnings": [...]} when the backup was uploaded, {"backupId",
"durationSeconds", "error"} when it was not; with --id-file the duration
runs from the backup ID (when the backup step started) to the end. The backup
CronJob points it at the container's termination message, which serve reads
when the Job has finished.`,
		Example: `  # A backup neo4j-admin wrote to /backups/graph, ID the time it started
  neo4j-backup upload --from /backups/graph --to s3://prod-backups/neo4j/shop/graph --id 2021-11-11T10:00:00Z

  # Upload, then keep a week of backups
  neo4j-backup upload --from /backups/graph --to s3://prod-backups/neo4j/shop/graph --keep 7d

  # What the backup CronJob runs: check neo4j-admin's work, then upload
  neo4j-backup upload --from /backup/databases --id-file /backup/started-at --to s3://prod-backups/neo4j/shop/graph \
    --databases neo4j,system --neo4j-version 5.26.0 --neo4j-admin-exit /backup/neo4j-admin.exit \
    --plan /backup/plan --inspect /backup/inspect --inspect-exit /backup/inspect.exit \
    --termination-log /dev/termination-log`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUpload(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "folder that holds the backup (required)")
	_ = cmd.MarkFlagDirname("from")
	fs.StringVar(&o.to, "to", "", "where backups go: s3://bucket/prefix (required)")
	fs.StringVar(&o.id, "id", "", "backup ID: the UTC time the backup started, like 2021-11-11T10:00:00Z (default now)")
	fs.StringVar(&o.idFile, "id-file", "", "read the backup ID from this file (the backup CronJob writes the start time there)")
	fs.StringVar(&o.databases, "databases", "", "comma list of the databases the backup must hold; checked before anything is uploaded (default: inferred from the folder)")
	fs.StringVar(&o.neo4jVersion, "neo4j-version", "", "Neo4j version backed up: the layout checked, recorded in the manifest")
	fs.StringVar(&o.adminExit, "neo4j-admin-exit", "", "file of neo4j-admin's exit codes, a line \"<code> <database,…>\" per call; checked with --databases (needs --neo4j-version)")
	fs.StringVar(&o.keep, "keep", "", "then prune to this retention: a count (24) or an age (7d, 36h)")
	fs.StringVar(&o.inUse, "in-use", "", "with --keep: comma list of backup IDs never to prune")
	fs.StringVar(&o.plan, "plan", "", "backup-plan's decision: a full or a differential backup, its parent and the parent's artifacts in --from (needs --inspect)")
	fs.StringVar(&o.inspect, "inspect", "", "output of neo4j-admin database backup --inspect-path of --from: the artifacts' transaction ranges")
	fs.StringVar(&o.inspectExit, "inspect-exit", "", "file holding the exit code of that --inspect-path call")
	fs.StringVar(&o.terminationLog, "termination-log", "", "write the outcome to this file as JSON, the container's termination message (the backup CronJob: "+backup.TerminationLog+")")
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	return cmd
}

func runUpload(ctx context.Context, o uploadOptions, stdout, stderr io.Writer) (err error) {
	var outcome backup.Outcome
	if o.terminationLog != "" {
		defer func() {
			if err != nil {
				outcome = backup.Failed(o.id, err)
			}
			if o.idFile != "" {
				// The ID the backup step wrote when it started: the run's
				// start. An ID given with --id may be of any time.
				outcome.DurationSeconds = sinceStart(outcome.BackupID, time.Now())
			}
			// Not a failure of the upload: failing now would make the Job
			// upload the backup again.
			if werr := os.WriteFile(o.terminationLog, outcome.TerminationMessage(), 0o644); werr != nil {
				fmt.Fprintf(stderr, "warning: the outcome is not in the termination message: %v\n", werr)
			}
		}()
	}
	if o.from == "" {
		return usagef("--from DIR is required: the folder that holds the backup")
	}
	if o.idFile != "" {
		if o.id != "" {
			return usagef("give --id or --id-file, not both")
		}
		b, err := os.ReadFile(o.idFile)
		if err != nil {
			return fmt.Errorf("reading the backup ID: %v; the backup step writes it before running neo4j-admin", err)
		}
		o.id = strings.TrimSpace(string(b))
	}
	if o.id != "" {
		if _, err := storage.ParseID(o.id); err != nil {
			return usagef("--id: %v", err)
		}
	}
	var retention storage.Keep
	if o.keep != "" {
		var err error
		if retention, err = storage.ParseKeep(o.keep); err != nil {
			return usagef("--keep: %v", err)
		}
	}
	var version neo4j.Version
	if o.neo4jVersion != "" {
		var err error
		if version, err = neo4j.ParseVersion(o.neo4jVersion); err != nil {
			return usagef("--neo4j-version: %v", err)
		}
	}
	dbs := annotations.SplitList(o.databases)
	if o.adminExit != "" && (len(dbs) == 0 || o.neo4jVersion == "") {
		return usagef("--neo4j-admin-exit needs --databases and --neo4j-version: what the backup must hold, and how to read neo4j-admin's exit codes")
	}
	if (o.plan == "") != (o.inspect == "") {
		return usagef("--plan and --inspect go together: what backup-plan decided, and what neo4j-admin wrote")
	}
	store, err := o.s3.open("to", o.to)
	if err != nil {
		return err
	}
	o.s3.limitMemory()

	// Checked before anything is uploaded: a refused backup leaves nothing
	// in the store, so nothing looks complete, and latest and retention
	// never move to it.
	var warnings []string
	if len(dbs) > 0 {
		checked, err := neo4j.CheckBackup(version, o.from, dbs, o.adminExit)
		if err != nil {
			what := "the backup"
			if o.id != "" {
				what = "backup " + o.id
			}
			return fmt.Errorf("%s was not uploaded: %w", what, err)
		}
		dbs, warnings = checked.Databases, checked.Warnings
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	} else {
		// A folder that cannot be read fails the upload below, with the
		// message that says so.
		found, _ := neo4j.DatabasesIn(o.from)
		for _, db := range found {
			if db = strings.ToLower(db); !slices.Contains(dbs, db) {
				dbs = append(dbs, db)
			}
		}
	}
	opts := storage.UploadOptions{
		ID:           o.id,
		Databases:    dbs,
		Neo4jVersion: o.neo4jVersion,
	}
	if o.plan != "" {
		if err := chainOptions(o, &opts); err != nil {
			what := "the backup"
			if o.id != "" {
				what = "backup " + o.id
			}
			return fmt.Errorf("%s was not uploaded: %w", what, err)
		}
		for _, w := range opts.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		warnings = append(warnings, opts.Warnings...)
	}
	opts.Warnings = warnings
	progress := newTransferProgress(stderr, "uploading")
	opts.Progress = progress
	m, err := store.Upload(ctx, o.from, opts)
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.BackupID)
	outcome = backup.Succeeded(m.BackupID, m.Databases, m.Size(), warnings)
	outcome.Type = backup.TypeFull
	if opts.Type == storage.TypeDifferential {
		outcome.Type = backup.TypeDifferential
	}
	if o.keep != "" {
		removed, err := store.Prune(ctx, retention, storage.PruneOptions{InUse: annotations.SplitList(o.inUse)})
		for _, b := range removed {
			fmt.Fprintf(stderr, "pruned backup %s (%s)\n", b.ID, b.Status)
		}
		if err != nil {
			return fmt.Errorf("backup %s is uploaded, but pruning failed: %w", m.BackupID, err)
		}
	}
	if len(warnings) > 0 {
		// The last line, for whoever reads the log.
		fmt.Fprintf(stderr, "backup %s uploaded with %s: %s\n", m.BackupID, count(len(warnings), "warning"), strings.Join(warnings, " | "))
	}
	return nil
}

// sinceStart is how long the run took, in seconds, from the backup ID (the
// time neo4j-admin started) to now; 0 when the ID is not known or not a
// backup ID, or the clocks disagree.
func sinceStart(id string, now time.Time) float64 {
	start, err := storage.ParseID(id)
	if err != nil || now.Before(start) {
		return 0
	}
	return now.Sub(start).Seconds()
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// chainOptions fills the chain fields of opts from backup-plan's plan and
// neo4j-admin's --inspect-path table (README "Scheduled backups"): the
// type, the parent, the new artifacts (the rows that are not the parent's
// fetched ones) and the files to leave out. It refuses what would break
// the chain: a database without a new artifact, a differential backup
// whose artifacts do not start right after the parent chain's highest
// transaction, or of another database ID. A full backup the chain could not
// be built on gets a warning saying why.
func chainOptions(o uploadOptions, opts *storage.UploadOptions) error {
	data, err := os.ReadFile(o.plan)
	if err != nil {
		return fmt.Errorf("reading the backup plan: %v; the backup-plan container writes it", err)
	}
	var plan backupPlan
	if err := json.Unmarshal(data, &plan); err != nil || (plan.Type != backup.TypeFull && plan.Type != backup.TypeDifferential) {
		return fmt.Errorf("%s is not a backup plan of backup-plan (%q); run the CronJob of this neo4j-backup's reconciler", o.plan, strings.TrimSpace(string(data)))
	}
	if plan.differential() && plan.Parent == "" {
		return fmt.Errorf("%s plans a differential backup on no parent", o.plan)
	}
	inspectOK := func() error {
		if o.inspectExit != "" {
			code, err := os.ReadFile(o.inspectExit)
			if err != nil {
				return fmt.Errorf("reading the exit code of neo4j-admin database backup --inspect-path: %v", err)
			}
			if c := strings.TrimSpace(string(code)); c != "0" {
				return fmt.Errorf("neo4j-admin database backup --inspect-path exited %s (the neo4j-admin-backup container's log says why)", c)
			}
		}
		return nil
	}
	var rows []neo4j.InspectedArtifact
	if err = inspectOK(); err == nil {
		var out []byte
		if out, err = os.ReadFile(o.inspect); err == nil {
			rows, err = neo4j.ParseInspect(out)
		}
	}
	if err != nil {
		if plan.differential() {
			return fmt.Errorf("its artifacts cannot be checked against its parent's: %v", err)
		}
		// A good full backup, whose artifacts are not known: the next run
		// cannot build on it and takes a full backup.
		opts.Type = storage.TypeFull
		opts.Warnings = append(opts.Warnings, fmt.Sprintf("the backup's artifacts are not recorded, so the next backup is a full one: %v", err))
		return nil
	}
	fetched := map[string]bool{}
	for _, f := range plan.Fetched {
		fetched[f] = true
	}
	parents := map[string]neo4j.InspectedArtifact{} // the parent chain's newest artifact of each database
	var fresh []neo4j.InspectedArtifact
	for _, r := range rows {
		name := filepath.Base(r.Path)
		if fetched[name] {
			if p, ok := parents[r.Database]; !ok || r.HighestTx > p.HighestTx {
				parents[r.Database] = r
			}
			continue
		}
		if info, err := os.Stat(filepath.Join(o.from, name)); err != nil || !info.Mode().IsRegular() {
			return fmt.Errorf("neo4j-admin --inspect-path lists %s, which is not a file of %s", r.Path, o.from)
		}
		fresh = append(fresh, r)
	}
	for _, db := range opts.Databases {
		if !slices.ContainsFunc(fresh, func(r neo4j.InspectedArtifact) bool { return r.Database == db }) {
			return fmt.Errorf("neo4j-admin wrote no new backup artifact of database %s (%s lists none besides the parent's); the neo4j-admin-backup container's log says why", db, o.inspect)
		}
	}
	opts.Type, opts.Parent = storage.TypeFull, ""
	if plan.differential() {
		opts.Type, opts.Parent = storage.TypeDifferential, plan.Parent
	}
	for _, r := range fresh {
		name := filepath.Base(r.Path)
		if !plan.differential() {
			if !r.Full {
				return fmt.Errorf("%s is a differential artifact, but the plan is a full backup", name)
			}
		} else {
			p, ok := parents[r.Database]
			switch {
			case r.Full:
				return fmt.Errorf("%s is a full artifact, but the plan is a differential backup on backup %s", name, plan.Parent)
			case !ok:
				return fmt.Errorf("differential artifact %s of database %s has no artifact of its parent backup %s in %s: the chain would be broken", name, r.Database, plan.Parent, o.from)
			case r.DatabaseID != p.DatabaseID:
				return fmt.Errorf("differential artifact %s is of database ID %s, its parent %s of %s: the chain would be broken", name, r.DatabaseID, filepath.Base(p.Path), p.DatabaseID)
			case !r.Empty() && r.LowestTx != p.HighestTx+1:
				return fmt.Errorf("differential artifact %s starts at transaction %d, but backup %s's chain ends at transaction %d of database %s: the chain would be broken", name, r.LowestTx, plan.Parent, p.HighestTx, r.Database)
			}
		}
		opts.Artifacts = append(opts.Artifacts, storage.Artifact{Database: r.Database, Path: name, Full: r.Full, LowestTx: r.LowestTx, HighestTx: r.HighestTx, Time: r.Time})
	}
	if plan.differential() {
		opts.Exclude = plan.Fetched
	} else if plan.Problem {
		opts.Warnings = append(opts.Warnings, "a full backup, not a differential one: "+plan.Reason)
	}
	return nil
}
