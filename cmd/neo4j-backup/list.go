package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

// listOptions are list's flags.
type listOptions struct {
	from   string
	output string
	s3     *s3Flags
}

func newListCommand() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:   "list --from s3://bucket/prefix [-o table|json|yaml]",
		Short: "List the backups in S3, oldest first",
		Long: `List the backups in S3, oldest first: complete ones (with a manifest),
incomplete ones (an upload still running or one that died; never restored)
and legacy folders of the old s3cmd CronJob.`,
		Example: `  # The backups of StatefulSet graph in namespace shop
  neo4j-backup list --from s3://prod-backups/neo4j/shop/graph

  # The same, for a script
  neo4j-backup list --from s3://prod-backups/neo4j/shop/graph -o json`,
		GroupID: groupS3,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "where backups are: s3://bucket/prefix (required)")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	o.s3 = addS3Flags(fs)
	return cmd
}

// listedBackup is one backup as `list -o json` and `-o yaml` print it.
type listedBackup struct {
	ID           string         `json:"id"`
	Status       storage.Status `json:"status"`
	Time         time.Time      `json:"time"`
	Size         int64          `json:"size"`
	Files        int            `json:"files"`
	Databases    []string       `json:"databases"`
	Neo4jVersion string         `json:"neo4jVersion,omitempty"`
	Warnings     []string       `json:"warnings,omitempty"`
}

func runList(ctx context.Context, o listOptions, stdout, stderr io.Writer) error {
	switch o.output {
	case "table", "json", "yaml":
	default:
		return usagef("--output %s: choose table, json or yaml", o.output)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	backups, err := store.List(ctx)
	if err != nil {
		return err
	}
	if o.output != "table" {
		return writeListed(stdout, o.output, backups)
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

// writeListed prints backups as json or yaml: the same objects either way.
func writeListed(w io.Writer, format string, backups []storage.Backup) error {
	listed := make([]listedBackup, 0, len(backups))
	for _, b := range backups {
		l := listedBackup{ID: b.ID, Status: b.Status, Time: b.Time, Size: b.Size, Files: b.Files, Databases: b.Databases}
		if l.Databases == nil {
			l.Databases = []string{}
		}
		if b.Manifest != nil {
			l.Neo4jVersion, l.Warnings = b.Manifest.Neo4jVersion, b.Manifest.Warnings
		}
		listed = append(listed, l)
	}
	if format == "yaml" {
		out, err := yaml.Marshal(listed)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(listed)
}
