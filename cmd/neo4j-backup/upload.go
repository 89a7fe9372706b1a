package main

import (
	"context"
	"fmt"
	"io"
	"os"
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
	s3                   *s3Flags
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

With --termination-log, also writes the outcome there as one JSON object
(under 4 KiB): {"backupId", "type", "databases", "size", "durationSeconds",
"warnings": [...]} when the backup was uploaded, {"backupId",
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
	progress := newTransferProgress(stderr, "uploading")
	m, err := store.Upload(ctx, o.from, storage.UploadOptions{
		ID:           o.id,
		Databases:    dbs,
		Neo4jVersion: o.neo4jVersion,
		Warnings:     warnings,
		Progress:     progress,
	})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.BackupID)
	outcome = backup.Succeeded(m.BackupID, m.Databases, m.Size(), warnings)
	outcome.Type = backup.TypeFull // differential backups come with backup chains
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
