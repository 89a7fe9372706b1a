package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// newDrillCommand is what the restore drill's containers of this image run
// (README "Restore drills"); hidden, as restore-staged is: not for people.
func newDrillCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "drill",
		Short:  "The steps of a restore drill pod",
		Hidden: true,
		Args:   noArgs,
	}
	cmd.AddCommand(newDrillFetchCommand(), newDrillReportCommand())
	return cmd
}

type drillFetchOptions struct {
	from, at, dir, version string
	s3                     *s3Flags
}

func newDrillFetchCommand() *cobra.Command {
	var o drillFetchOptions
	cmd := &cobra.Command{
		Use:   "fetch --from s3://bucket/prefix --at latest --to DIR --neo4j-version V",
		Short: "Fetch and verify a backup into DIR and lay it out for the drill's neo4j-admin calls",
		Long: `Fetch a backup, every checksum verified, into DIR/fetched/ and lay it out
for the drill's neo4j-admin calls in DIR/stage/. A fetch that fails is written
to DIR/fetch.error for the report container, which fails the drill with it;
only a mistake in the command line makes this step fail.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDrillFetch(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.from, "from", "", "where the deployment's backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.at, "at", "latest", "which backup")
	fs.StringVar(&o.dir, "to", "", "the drill's scratch volume (required)")
	fs.StringVar(&o.version, "neo4j-version", "", "the Neo4j version of the deployment (required)")
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	return cmd
}

func runDrillFetch(ctx context.Context, o drillFetchOptions, stderr io.Writer) error {
	v, err := neo4j.ParseVersion(o.version)
	if err != nil {
		return usagef("--neo4j-version: %v", err)
	}
	if o.dir == "" {
		return usagef("--to DIR is required: the drill's scratch volume")
	}
	if err := storage.CheckRestorePoint(o.at); err != nil {
		return usagef("--at: %v", err)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	o.s3.limitMemory()
	if err := os.WriteFile(o.dir+"/started-at", []byte(storage.NewID(time.Now())+"\n"), 0o644); err != nil {
		return err
	}
	progress := newTransferProgress(stderr, "fetching")
	b, _, err := store.Fetch(ctx, o.at, o.dir+"/fetched", storage.FetchOptions{Progress: progress})
	progress.finish(err == nil)
	if err == nil && b.Status != storage.Complete {
		err = fmt.Errorf("backup %s has no manifest: a drill result goes beside the manifest of a complete backup", b.ID)
	}
	if err == nil {
		err = backup.StageDrill(o.dir, b.ID, v)
	}
	if err != nil {
		fmt.Fprintf(stderr, "the drill fails: %v\n", oneLine(err))
		return backup.RecordFetchFailure(o.dir, err)
	}
	fmt.Fprintf(stderr, "fetched backup %s, every checksum verified\n", b.ID)
	return nil
}

type drillReportOptions struct {
	from, dir, databases, version, terminationLog string
	s3                                            *s3Flags
}

func newDrillReportCommand() *cobra.Command {
	var o drillReportOptions
	cmd := &cobra.Command{
		Use:   "report --from s3://bucket/prefix --dir DIR --databases LIST --neo4j-version V",
		Short: "Judge a restore drill, record its result beside the backup's manifest",
		Long: `Judge the drill's restores and consistency checks by their exit codes and
files in DIR: a database not restored, or inconsistent, fails the drill.
Writes the result beside the backup's manifest in S3, and with
--termination-log the DrillOutcome there as one JSON object. Exits 1 when
the drill failed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDrillReport(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.from, "from", "", "where the deployment's backups are: s3://bucket/prefix (required)")
	fs.StringVar(&o.dir, "dir", "", "the drill's scratch volume (required)")
	fs.StringVar(&o.databases, "databases", "", "comma list of the databases the drill restores (required)")
	fs.StringVar(&o.version, "neo4j-version", "", "the Neo4j version of the deployment (required)")
	fs.StringVar(&o.terminationLog, "termination-log", "", "write the DrillOutcome to this file as JSON, the container's termination message")
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	return cmd
}

func runDrillReport(ctx context.Context, o drillReportOptions, stdout, stderr io.Writer) error {
	v, err := neo4j.ParseVersion(o.version)
	if err != nil {
		return usagef("--neo4j-version: %v", err)
	}
	databases := annotations.DatabaseList(o.databases)
	if o.dir == "" || len(databases) == 0 {
		return usagef("--dir and --databases are required")
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	end := time.Now().UTC()
	start := end
	if b, err := os.ReadFile(o.dir + "/started-at"); err == nil {
		if t, err := storage.ParseID(strings.TrimSpace(string(b))); err == nil {
			start = t
		}
	}
	found := backup.JudgeDrill(o.dir, v, databases)
	outcome := backup.DrillOutcome{BackupID: found.BackupID, Passed: len(found.Failures) == 0, Databases: databases, DurationSeconds: end.Sub(start).Seconds()}
	if found.BackupID != "" {
		key, err := store.WriteDrill(ctx, storage.DrillResult{BackupID: found.BackupID, StartTime: start, EndTime: end, Neo4jVersion: v.String(),
			Passed: outcome.Passed, Databases: databases, Failures: found.Failures})
		if err != nil {
			found.Failures = append(found.Failures, "the drill result could not be written: "+oneLine(err))
		} else {
			fmt.Fprintf(stderr, "drill result written to %s\n", key)
		}
	}
	if len(found.Failures) > 0 {
		outcome.Passed = false
		outcome.Error = strings.Join(found.Failures, "; ")
	}
	if o.terminationLog != "" {
		if werr := os.WriteFile(o.terminationLog, backup.DrillTerminationMessage(outcome), 0o644); werr != nil {
			fmt.Fprintf(stderr, "warning: the outcome is not in the termination message: %v\n", werr)
		}
	}
	if !outcome.Passed {
		return fmt.Errorf("restore drill of backup %s failed: %s", or(found.BackupID, "(none fetched)"), outcome.Error)
	}
	fmt.Fprintf(stdout, "restore drill of backup %s passed: %s restored and consistent\n", found.BackupID, strings.Join(databases, ", "))
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
