package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// uploadOptions are upload's flags.
type uploadOptions struct {
	from, to, id, idFile string
	databases            string
	neo4jVersion         string
	keep, inUse          string
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
restored. Prints the backup ID. With --keep, then prunes as prune does.`,
		Example: `  # A backup neo4j-admin wrote to /backups/graph, ID the time it started
  neo4j-backup upload --from /backups/graph --to s3://prod-backups/neo4j/shop/graph --id 2021-11-11T10:00:00Z

  # Upload, then keep a week of backups
  neo4j-backup upload --from /backups/graph --to s3://prod-backups/neo4j/shop/graph --keep 7d`,
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
	fs.StringVar(&o.databases, "databases", "", "comma list of the databases in the backup (default: inferred from the folder)")
	fs.StringVar(&o.neo4jVersion, "neo4j-version", "", "Neo4j version to record in the manifest")
	fs.StringVar(&o.keep, "keep", "", "then prune to this retention: a count (24) or an age (7d, 36h)")
	fs.StringVar(&o.inUse, "in-use", "", "with --keep: comma list of backup IDs never to prune")
	o.s3 = addS3Flags(fs)
	return cmd
}

func runUpload(ctx context.Context, o uploadOptions, stdout, stderr io.Writer) error {
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
	store, err := o.s3.open("to", o.to)
	if err != nil {
		return err
	}
	o.s3.limitMemory()

	dbs := annotations.SplitList(o.databases)
	if len(dbs) == 0 {
		// A folder that cannot be read fails the upload below, with the
		// message that says so.
		dbs, _ = neo4j.DatabasesIn(o.from)
	}
	progress := newTransferProgress(stderr, "uploading")
	m, err := store.Upload(ctx, o.from, storage.UploadOptions{
		ID:           o.id,
		Databases:    dbs,
		Neo4jVersion: o.neo4jVersion,
		Progress:     progress,
	})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.BackupID)
	if o.keep == "" {
		return nil
	}
	removed, err := store.Prune(ctx, retention, storage.PruneOptions{InUse: annotations.SplitList(o.inUse)})
	for _, b := range removed {
		fmt.Fprintf(stderr, "pruned backup %s (%s)\n", b.ID, b.Status)
	}
	if err != nil {
		return fmt.Errorf("backup %s is uploaded, but pruning failed: %w", m.BackupID, err)
	}
	return nil
}
