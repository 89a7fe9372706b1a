package main

import (
	"context"
	"fmt"
	"io"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

func init() {
	commands["prune"] = command{summary: "remove old backups from S3 by count or age", run: runPrune}
}

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("prune", stderr)
	from := fs.String("from", "", "where backups are: s3://bucket/prefix (required)")
	keep := fs.String("keep", "", "retention: a count (24) or an age (7d, 36h) (required)")
	dryRun := fs.Bool("dry-run", false, "only print what would be removed")
	inUse := fs.String("in-use", "", "comma list of backup IDs never to remove")
	s3 := addS3Flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keep == "" {
		return usagef("--keep is required: a count (24) or an age (7d, 36h)")
	}
	retention, err := storage.ParseKeep(*keep)
	if err != nil {
		return usagef("--keep: %v", err)
	}
	store, err := s3.open("from", *from)
	if err != nil {
		return err
	}
	removed, err := store.Prune(ctx, retention, storage.PruneOptions{InUse: annotations.SplitList(*inUse), DryRun: *dryRun})
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	for _, b := range removed {
		fmt.Fprintf(stdout, "%s %s (%s)\n", verb, b.ID, b.Status)
	}
	return err
}
