package main

import (
	"context"
	"io"
	"strings"

	"github.com/neo4j-backup/neo4j-backup/restore"
	"github.com/neo4j-backup/neo4j-backup/webhook"
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
	stage := fs.String("staged", webhook.StagePath, "the folder the fetch container staged the backup and plan in")
	data := fs.String("data", webhook.DataPath, "Neo4j's data volume, where the restore marker is written")
	databases := fs.String("databases", "", "restore only these databases (comma list); all in the backup when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return restore.Run(ctx, restore.Options{
		Stage:     *stage,
		Marker:    strings.TrimSuffix(*data, "/") + strings.TrimPrefix(webhook.MarkerPath, webhook.DataPath),
		Databases: webhook.SplitList(*databases),
		Stderr:    stderr,
	})
}
