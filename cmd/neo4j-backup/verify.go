package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

// verifyOptions are verify's flags.
type verifyOptions struct {
	from, at string
	s3       *s3Flags
}

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify --from s3://bucket/prefix --at ID|TIME|latest",
		Short: "Check a backup in S3 against its manifest without fetching it to disk",
		Long: `Read every file of a backup from S3 and check its size and SHA-256 against
the backup's manifest, writing nothing to disk. Prints one line when every
checksum matches; exits 1 with the first file that does not. A legacy backup
(no manifest) has no checksums and cannot be verified.

Reads are ranged and resumed as fetch's are: a request that breaks off is
tried again from the byte it reached; verify fails when no data has moved
for --timeout.`,
		Example: `  # The newest complete backup
  neo4j-backup verify --from s3://prod-backups/neo4j/shop/graph --at latest

  # The newest complete backup at or before a time
  neo4j-backup verify --from s3://prod-backups/neo4j/shop/graph --at 2021-11-11T12:00:00Z`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "where backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.at, "at", "", `which backup: "latest", a backup ID, or a time (the newest complete backup at or before it) (required)`)
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	return cmd
}

func runVerify(ctx context.Context, o verifyOptions, stdout, stderr io.Writer) error {
	if o.at == "" {
		return usagef(`--at is required: "latest", a backup ID or a time such as 2021-11-11T10:00:00Z`)
	}
	if err := storage.CheckRestorePoint(o.at); err != nil {
		return usagef("--at: %v", err)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	o.s3.limitMemory()
	progress := newTransferProgress(stderr, "checking")
	b, err := store.Verify(ctx, o.at, storage.FetchOptions{Progress: progress})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: %s, %s, every checksum matches\n", b.ID, files(int64(b.Files)), size(b.Size))
	return nil
}
