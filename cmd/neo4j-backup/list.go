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
and legacy folders of the old s3cmd CronJob.

Each backup shows its type, full or differential (5.x and calendar
versions), and the backup a differential one builds on: its parent. A
differential backup restores with its whole chain, back to a full backup;
one whose chain is broken is said to be, and cannot be restored. The table
ends with the restore window, the oldest and the newest backup that can be
restored: a time inside a chain restores exactly to that time (neo4j-admin
--restore-until), any other time to the newest backup before it. -o json
and -o yaml give each differential backup its chain, and "broken" when it
cannot be restored.`,
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

// listedBackup is one backup as `list -o json` and `-o yaml` print it. Type
// and Parent are the manifest's (no type: a full backup of a release before
// chains); Chain, of a differential backup, is the backups restoring it
// takes, oldest first and itself last, when they are all there, and Broken
// says why they are not. The restore window is the first and the last
// complete backup that is not Broken (README "Restore a StatefulSet").
type listedBackup struct {
	ID           string         `json:"id"`
	Status       storage.Status `json:"status"`
	Time         time.Time      `json:"time"`
	Size         int64          `json:"size"`
	Files        int            `json:"files"`
	Databases    []string       `json:"databases"`
	Neo4jVersion string         `json:"neo4jVersion,omitempty"`
	Warnings     []string       `json:"warnings,omitempty"`
	Type         string         `json:"type,omitempty"`
	Parent       string         `json:"parent,omitempty"`
	Chain        []string       `json:"chain,omitempty"`
	Broken       string         `json:"broken,omitempty"`
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
	return writeTable(stdout, backups)
}

// writeTable prints backups as a table, then the restore window.
func writeTable(w io.Writer, backups []storage.Backup) error {
	listed := withChains(backups)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKUP\tSTATUS\tTYPE\tPARENT\tSIZE\tFILES\tDATABASES")
	for _, l := range listed {
		typ, parent := or(l.Type, "-"), or(l.Parent, "-")
		if l.Status == storage.Complete && l.Type == "" {
			typ = storage.TypeFull
		}
		if l.Broken != "" {
			parent += " (chain broken: not restorable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", l.ID, l.Status, typ, parent, size(l.Size), l.Files, strings.Join(l.Databases, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, windowLine(listed))
	return err
}

// windowLine is the table's last line: the oldest and the newest restore
// point. Between them a time inside a chain restores exactly to that time
// (--restore-until), any other time to the newest backup before it.
func windowLine(listed []listedBackup) string {
	oldest, newest := restorePoints(listed)
	if oldest == "" {
		return "restore window: none (no complete backup with its whole chain)"
	}
	return fmt.Sprintf("restore window: %s to %s; a time inside a chain restores exactly to that time, any other to the newest backup before it", oldest, newest)
}

// restorePoints are the oldest and the newest backup that can be restored,
// a complete one whose whole chain is there; "" when there is none.
func restorePoints(listed []listedBackup) (oldest, newest string) {
	for _, l := range listed {
		if l.Status != storage.Complete || l.Broken != "" {
			continue
		}
		if oldest == "" {
			oldest = l.ID
		}
		newest = l.ID
	}
	return oldest, newest
}

// withChains is backups as list prints them, with their chains.
func withChains(backups []storage.Backup) []listedBackup {
	listed := make([]listedBackup, 0, len(backups))
	for _, b := range backups {
		l := listedBackup{ID: b.ID, Status: b.Status, Time: b.Time, Size: b.Size, Files: b.Files, Databases: b.Databases}
		if l.Databases == nil {
			l.Databases = []string{}
		}
		if b.Manifest != nil {
			l.Neo4jVersion, l.Warnings = b.Manifest.Neo4jVersion, b.Manifest.Warnings
			l.Type, l.Parent = b.Manifest.Type, b.Manifest.Parent
		}
		if b.Status == storage.Complete {
			chain, err := storage.Chain(backups, b)
			if err != nil {
				l.Broken = err.Error()
			}
			for _, c := range chain {
				if len(chain) > 1 { // a full backup is its own chain
					l.Chain = append(l.Chain, c.ID)
				}
			}
		}
		listed = append(listed, l)
	}
	return listed
}

// writeListed prints backups as json or yaml: the same objects either way.
func writeListed(w io.Writer, format string, backups []storage.Backup) error {
	listed := withChains(backups)
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
