package main

import (
	"context"
	"fmt"
	"io"

	"github.com/neo4j-backup/neo4j-backup/podrestore"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// podFetch is how the injected neo4j-backup-fetch container fetches: only
// when the data volume does not already hold the restore, into the stage
// folder with a plan and a copy of this binary for neo4j-backup-restore.
type podFetch struct {
	marker      string // --skip-if-restored
	installSelf string // --install-self
}

func (p podFetch) enabled() bool { return p.marker != "" || p.installSelf != "" }

// run stages the backup; skipped says nothing was fetched.
func (p podFetch) run(ctx context.Context, store *storage.Store, from, at, to string, progress storage.Progress, stdout, stderr io.Writer) (skipped bool, err error) {
	if p.marker == "" || p.installSelf == "" {
		return false, usagef("--skip-if-restored and --install-self go together: they are how the injected fetch container runs")
	}
	plan, err := podrestore.Stage(ctx, store, podrestore.StageOptions{
		At: at, From: from, Stage: to, Marker: p.marker, InstallSelf: p.installSelf, Progress: progress, Log: stderr,
	})
	if err != nil {
		return false, err
	}
	if plan.Skip {
		fmt.Fprintln(stdout, "already restored:", plan.BackupID)
		return true, nil
	}
	fmt.Fprintln(stdout, plan.BackupID)
	return false, nil
}
