package main

import (
	"context"
	"io"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

func init() {
	commands["restore-staged"] = command{
		summary: "restore the backup the fetch container staged (run by the injected neo4j-backup-restore container)",
		run:     runRestoreStaged,
		hidden:  true,
	}
}

func runRestoreStaged(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("restore-staged", stderr)
	stage := fs.String("staged", podrestore.StagePath, "the folder the fetch container staged the backup and plan in")
	data := fs.String("data", podrestore.DataPath, "Neo4j's data volume, where the restore marker is written")
	databases := fs.String("databases", "", "restore only these databases (comma list); all in the backup when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return podrestore.Run(ctx, podrestore.Options{
		Stage:     *stage,
		Marker:    podrestore.MarkerIn(*data),
		Databases: annotations.SplitList(*databases),
		Stderr:    stderr,
	})
}
