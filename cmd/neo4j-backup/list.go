package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

func init() {
	commands["list"] = command{summary: "list the backups in S3, oldest first", run: runList}
}

// listedBackup is one backup as `list -o json` prints it.
type listedBackup struct {
	ID           string         `json:"id"`
	Status       storage.Status `json:"status"`
	Time         time.Time      `json:"time"`
	Size         int64          `json:"size"`
	Files        int            `json:"files"`
	Databases    []string       `json:"databases"`
	Neo4jVersion string         `json:"neo4jVersion,omitempty"`
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("list", stderr)
	from := fs.String("from", "", "where backups are: s3://bucket/prefix (required)")
	output := fs.String("o", "table", "output format: table or json")
	s3 := addS3Flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return usagef("-o %s: choose table or json", *output)
	}
	store, err := s3.open("from", *from)
	if err != nil {
		return err
	}
	backups, err := store.List(ctx)
	if err != nil {
		return err
	}
	if *output == "json" {
		listed := make([]listedBackup, 0, len(backups))
		for _, b := range backups {
			l := listedBackup{ID: b.ID, Status: b.Status, Time: b.Time, Size: b.Size, Files: b.Files, Databases: b.Databases}
			if l.Databases == nil {
				l.Databases = []string{}
			}
			if b.Manifest != nil {
				l.Neo4jVersion = b.Manifest.Neo4jVersion
			}
			listed = append(listed, l)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(listed)
	}
	if len(backups) == 0 {
		fmt.Fprintf(stderr, "no backups in %s\n", store.Location())
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKUP\tSTATUS\tSIZE\tFILES\tDATABASES")
	for _, b := range backups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", b.ID, b.Status, size(b.Size), b.Files, strings.Join(b.Databases, ","))
	}
	return tw.Flush()
}
