package main

import (
	"context"
	"fmt"
	"io"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

func init() {
	commands["fetch"] = command{summary: "fetch a backup from S3 into a folder and verify it", run: runFetch}
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fetch", stderr)
	from := fs.String("from", "", "where backups are: s3://bucket/prefix (required)")
	at := fs.String("at", "", `which backup: "latest", a backup ID, a time (the newest complete backup at or before it), or a legacy folder name (required)`)
	to := fs.String("to", "", "folder to fetch into; the backup lands in DIR/<backup-id>/ (required)")
	s3 := addS3Flags(fs)
	var pod podFetch
	fs.StringVar(&pod.marker, "skip-if-restored", "", "in a Neo4j pod: the restore marker in the data volume; fetch nothing if it shows this restore was done")
	fs.StringVar(&pod.installSelf, "install-self", "", "in a Neo4j pod: where to copy this binary for the restore container")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *at == "" {
		return usagef(`--at is required: "latest", a backup ID or a time such as 2021-11-11T10:00:00Z`)
	}
	if err := storage.CheckRestorePoint(*at); err != nil {
		return usagef("--at: %v", err)
	}
	if *to == "" {
		return usagef("--to DIR is required: the folder to fetch into")
	}
	store, err := s3.open("from", *from)
	if err != nil {
		return err
	}

	progress := newTransferProgress(stderr, "fetching")
	if pod.enabled() {
		skipped, err := pod.run(ctx, store, *from, *at, *to, progress, stdout, stderr)
		if !skipped {
			progress.finish(err == nil)
		}
		return err
	}
	b, path, err := store.Fetch(ctx, *at, *to, storage.FetchOptions{Progress: progress})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	if b.Status == storage.Legacy {
		fmt.Fprintf(stderr, "warning: %s is a legacy backup without a manifest; its files were fetched unverified\n", b.ID)
	}
	fmt.Fprintln(stdout, path)
	return nil
}
