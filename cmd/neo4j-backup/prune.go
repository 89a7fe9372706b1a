package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// pruneOptions are prune's flags.
type pruneOptions struct {
	from, keep, inUse string
	dryRun            bool
	s3                *s3Flags
}

func newPruneCommand() *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune --from s3://bucket/prefix --keep N|AGE [--dry-run]",
		Short: "Remove old backups from S3 by count or age",
		Long: `Remove the backups that the retention does not keep, and incomplete backups
older than a day. The newest complete backup is never removed, nor one named
with --in-use. Prints each backup it removes.`,
		Example: `  # See what keeping a week of backups would remove
  neo4j-backup prune --from s3://prod-backups/neo4j/shop/graph --keep 7d --dry-run

  # Keep the newest 24, and the one a restore annotation names
  neo4j-backup prune --from s3://prod-backups/neo4j/shop/graph --keep 24 --in-use 2021-11-11T10:00:00Z`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "where backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.keep, "keep", "", "retention: a count (24) or an age (7d, 36h) (required)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be removed")
	fs.StringVar(&o.inUse, "in-use", "", "comma list of backup IDs never to remove")
	o.s3 = addS3Flags(fs)
	return cmd
}

func runPrune(ctx context.Context, o pruneOptions, stdout io.Writer) error {
	if o.keep == "" {
		return usagef("--keep is required: a count (24) or an age (7d, 36h)")
	}
	retention, err := storage.ParseKeep(o.keep)
	if err != nil {
		return usagef("--keep: %v", err)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	removed, err := store.Prune(ctx, retention, storage.PruneOptions{InUse: annotations.SplitList(o.inUse), DryRun: o.dryRun})
	verb := "removed"
	if o.dryRun {
		verb = "would remove"
	}
	for _, b := range removed {
		fmt.Fprintf(stdout, "%s %s (%s)\n", verb, b.ID, b.Status)
	}
	return err
}
