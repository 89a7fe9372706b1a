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
		Use:   "prune --from s3://bucket/prefix --keep N|AGE|PERIODS [--dry-run]",
		Short: "Remove old backups from S3 by count, age or periods",
		Long: `Remove the backups that the retention does not keep, and incomplete backups
older than a day. The newest complete backup is never removed, nor one named
with --in-use, nor any backup that a kept differential backup builds on: a
chain is kept whole or not at all. Removes newest first, so an interrupted
prune never leaves a differential backup without its parent. Prints each
backup it removes; with --dry-run, every backup, whether it would stay or go,
and why.

--keep is a count of restore points (24), an age (7d, 36h), or a comma list of
periods (24h,7d,4w,12m): the newest backup of each of the last 24 hours, 7
days, 4 weeks and 12 months that have one (units h, d, w, m for months, y;
UTC, weeks from Monday).`,
		Example: `  # See what keeping a week of backups would remove
  neo4j-backup prune --from s3://prod-backups/neo4j/shop/graph --keep 7d --dry-run

  # Keep the newest 24, and the one a restore annotation names
  neo4j-backup prune --from s3://prod-backups/neo4j/shop/graph --keep 24 --in-use 2021-11-11T10:00:00Z
  # Hourly for a day, daily for a week, weekly for a month, monthly for a year
  neo4j-backup prune --from s3://prod-backups/neo4j/shop/graph --keep 24h,7d,4w,12m --dry-run`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "where backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.keep, "keep", "", "retention: a count (24), an age (7d, 36h) or periods (24h,7d,4w,12m) (required)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be removed")
	fs.StringVar(&o.inUse, "in-use", "", "comma list of backup IDs never to remove")
	o.s3 = addS3Flags(fs)
	return cmd
}

func runPrune(ctx context.Context, o pruneOptions, stdout io.Writer) error {
	if o.keep == "" {
		return usagef("--keep is required: a count (24), an age (7d, 36h) or periods (24h,7d,4w,12m)")
	}
	retention, err := storage.ParseKeep(o.keep)
	if err != nil {
		return usagef("--keep: %v", err)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	opts := storage.PruneOptions{InUse: annotations.SplitList(o.inUse), DryRun: o.dryRun}
	if o.dryRun {
		plan, err := store.PlanPrune(ctx, retention, opts)
		for _, d := range plan {
			verb := "would keep  "
			if d.Remove {
				verb = "would remove"
			}
			fmt.Fprintf(stdout, "%s %s (%s): %s\n", verb, d.Backup.ID, d.Backup.Status, d.Why)
		}
		return err
	}
	removed, err := store.Prune(ctx, retention, opts)
	for _, b := range removed {
		fmt.Fprintf(stdout, "removed %s (%s)\n", b.ID, b.Status)
	}
	return err
}
