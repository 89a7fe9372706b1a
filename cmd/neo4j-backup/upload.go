package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

func init() {
	commands["upload"] = command{summary: "upload a backup folder to S3, with a checksummed manifest", run: runUpload}
}

func runUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("upload", stderr)
	from := fs.String("from", "", "folder that holds the backup (required)")
	to := fs.String("to", "", "where backups go: s3://bucket/prefix (required)")
	id := fs.String("id", "", "backup ID: the UTC time the backup started, like 2021-11-11T10:00:00Z (default now)")
	idFile := fs.String("id-file", "", "read the backup ID from this file (the backup CronJob writes the start time there)")
	databases := fs.String("databases", "", "comma list of the databases in the backup (default: inferred from the folder)")
	neo4jVersion := fs.String("neo4j-version", "", "Neo4j version to record in the manifest")
	keep := fs.String("keep", "", "then prune to this retention: a count (24) or an age (7d, 36h)")
	inUse := fs.String("in-use", "", "with --keep: comma list of backup IDs never to prune")
	s3 := addS3Flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return usagef("--from DIR is required: the folder that holds the backup")
	}
	if *idFile != "" {
		if *id != "" {
			return usagef("give --id or --id-file, not both")
		}
		b, err := os.ReadFile(*idFile)
		if err != nil {
			return fmt.Errorf("reading the backup ID: %v; the backup step writes it before running neo4j-admin", err)
		}
		*id = strings.TrimSpace(string(b))
	}
	if *id != "" {
		if _, err := storage.ParseID(*id); err != nil {
			return usagef("--id: %v", err)
		}
	}
	var retention storage.Keep
	if *keep != "" {
		var err error
		if retention, err = storage.ParseKeep(*keep); err != nil {
			return usagef("--keep: %v", err)
		}
	}
	store, err := s3.open("to", *to)
	if err != nil {
		return err
	}

	dbs := annotations.SplitList(*databases)
	if len(dbs) == 0 {
		// A folder that cannot be read fails the upload below, with the
		// message that says so.
		dbs, _ = neo4j.DatabasesIn(*from)
	}
	progress := newTransferProgress(stderr, "uploading")
	m, err := store.Upload(ctx, *from, storage.UploadOptions{
		ID:           *id,
		Databases:    dbs,
		Neo4jVersion: *neo4jVersion,
		Progress:     progress,
	})
	progress.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.BackupID)
	if *keep == "" {
		return nil
	}
	removed, err := store.Prune(ctx, retention, storage.PruneOptions{InUse: annotations.SplitList(*inUse)})
	for _, b := range removed {
		fmt.Fprintf(stderr, "pruned backup %s (%s)\n", b.ID, b.Status)
	}
	if err != nil {
		return fmt.Errorf("backup %s is uploaded, but pruning failed: %w", m.BackupID, err)
	}
	return nil
}
