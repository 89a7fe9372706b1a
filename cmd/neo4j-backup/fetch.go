package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// fetchOptions are fetch's flags.
type fetchOptions struct {
	from, at, to string
	s3           *s3Flags
	pod          podFetch
}

func newFetchCommand() *cobra.Command {
	var o fetchOptions
	cmd := &cobra.Command{
		Use:   "fetch --from s3://bucket/prefix --at ID|TIME|latest --to DIR",
		Short: "Fetch a backup from S3 into a folder and verify it",
		Long: `Fetch a backup from S3 into DIR/<backup-id>/ and check every part of every
file against the CRC32C its manifest records (a part that arrives damaged is
fetched again; a manifest of an earlier release is checked by each file's
SHA-256). A folder already there is checked by SHA-256 and kept if it
matches. The backup lands in a hidden folder beside it and is
renamed into place only when every file verified: on any failure DIR is left
as it was. A legacy backup (no manifest) is fetched by its exact folder name,
unverified, with a warning. Prints the folder it fetched into.

A request that breaks off (a reset, a restart of the store, a server error)
is tried again from the byte it reached; the fetch fails when no data has
moved for --timeout. The hidden folder a killed fetch left behind in DIR is
removed by the next fetch into DIR (every fetch locks its own).`,
		Example: `  # The newest complete backup
  neo4j-backup fetch --from s3://prod-backups/neo4j/shop/graph --at latest --to /var/tmp/restore

  # The newest complete backup at or before a time
  neo4j-backup fetch --from s3://prod-backups/neo4j/shop/graph --at 2021-11-11T12:00:00Z --to /var/tmp/restore`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFetch(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "where backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.at, "at", "", `which backup: "latest", a backup ID, a time (the newest complete backup at or before it), or a legacy folder name (required)`)
	fs.StringVar(&o.to, "to", "", "folder to fetch into; the backup lands in DIR/<backup-id>/ (required)")
	_ = cmd.MarkFlagDirname("to")
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	// How the injected neo4j-backup-fetch container runs (README.md,
	// "Restore a StatefulSet"); not for people.
	fs.StringVar(&o.pod.marker, "skip-if-restored", "", "in a Neo4j pod: the restore marker in the data volume; fetch nothing if it shows this restore was done")
	fs.StringVar(&o.pod.installSelf, "install-self", "", "in a Neo4j pod: where to copy this binary for the restore container")
	_ = fs.MarkHidden("skip-if-restored")
	_ = fs.MarkHidden("install-self")
	return cmd
}

func runFetch(ctx context.Context, o fetchOptions, stdout, stderr io.Writer) error {
	if o.at == "" {
		return usagef(`--at is required: "latest", a backup ID or a time such as 2021-11-11T10:00:00Z`)
	}
	if err := storage.CheckRestorePoint(o.at); err != nil {
		return usagef("--at: %v", err)
	}
	if o.to == "" {
		return usagef("--to DIR is required: the folder to fetch into")
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	o.s3.limitMemory()

	progress := newTransferProgress(stderr, "fetching")
	if o.pod.enabled() {
		skipped, err := o.pod.run(ctx, store, o.from, o.at, o.to, progress, stdout, stderr)
		if !skipped {
			progress.finish(err == nil)
		}
		return err
	}
	b, path, err := store.Fetch(ctx, o.at, o.to, storage.FetchOptions{Progress: progress})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	if b.Status == storage.Legacy {
		// Fetched all the same, for a person to look at: only a restore
		// refuses a legacy backup that holds no database.
		if in, databases, err := neo4j.LegacyDatabases(path); err != nil {
			fmt.Fprintf(stderr, "warning: %s is a legacy backup without a manifest; its files were fetched unverified, and it cannot be restored: %v\n", b.ID, err)
		} else {
			fmt.Fprintln(stderr, podrestore.LegacyFetched(b.ID, in, databases))
		}
	}
	fmt.Fprintln(stdout, path)
	return nil
}
