package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// backupPlan is what backup-plan decides for a scheduled 5.x or
// calendar-version backup (README "Scheduled backups"), the file the
// neo4j-admin-backup script and upload read: a full backup, and why, or a
// differential one on Parent, whose chain's newest artifact of each
// database backup-plan fetched into the backup folder (Fetched, base
// names), as `neo4j-admin database backup --type=DIFF` needs them there.
// The script rewrites it as a full one when the differential backup fails.
type backupPlan struct {
	Type    string   `json:"type"` // backup.TypeFull or backup.TypeDifferential
	Parent  string   `json:"parent,omitempty"`
	Fetched []string `json:"fetched,omitempty"`
	Reason  string   `json:"reason,omitempty"` // why a full backup
	// Problem says the reason is a fault (a broken chain, a failed fetch or
	// differential backup) rather than the schedule's: upload records it as
	// a warning of the backup.
	Problem bool `json:"problem,omitempty"`
}

func (p backupPlan) differential() bool { return p.Type == backup.TypeDifferential }

// planFetch is the files of one backup of the chain backup-plan fetches.
type planFetch struct {
	backup storage.Backup
	paths  []string
}

// decidePlan decides the type of the next backup of databases by Neo4j
// version from the backups at the deployment's location (as List returns
// them) at now: differential only when the newest complete backup can be
// restored (its chain is whole), was taken by the same Neo4j major.minor
// (an upgrade may change the store format neo4j-admin builds on), its
// chain's full backup is younger than fullEvery, and it holds an artifact
// of every database. Then fetch is, per backup of the chain, the newest
// artifact of each database that holds transactions (a differential backup
// without any is empty, and neo4j-admin builds on the newest non-empty
// one).
func decidePlan(backups []storage.Backup, now time.Time, fullEvery string, version neo4j.Version, databases []string) (backupPlan, []planFetch) {
	full := func(problem bool, format string, a ...any) (backupPlan, []planFetch) {
		return backupPlan{Type: backup.TypeFull, Reason: fmt.Sprintf(format, a...), Problem: problem}, nil
	}
	if !version.Chains() {
		return full(false, "Neo4j %s takes full backups only", version)
	}
	every, err := annotations.ParseFullEvery(fullEvery)
	if err != nil {
		return full(true, "--full-every: %v", err)
	}
	var newest *storage.Backup
	for i, b := range backups {
		if b.Status == storage.Complete && b.Manifest != nil && (newest == nil || b.Time.After(newest.Time)) {
			newest = &backups[i]
		}
	}
	if newest == nil {
		return full(false, "there is no complete backup to build on")
	}
	b := *newest
	chain, err := storage.Chain(backups, b)
	if err != nil {
		return full(true, "the newest complete backup, %s, cannot be built on: %v", b.ID, err)
	}
	taken, err := neo4j.ParseVersion(b.Manifest.Neo4jVersion)
	switch {
	case b.Manifest.Neo4jVersion == "" || err != nil:
		return full(false, "backup %s records no Neo4j version to build on", b.ID)
	case taken.Major != version.Major || taken.Minor != version.Minor:
		return full(false, "backup %s was taken by Neo4j %s and this is Neo4j %s: a new chain starts", b.ID, taken, version)
	}
	if age := now.Sub(chain[0].Time); age >= every {
		return full(false, "the chain's full backup is older than %s (backup %s)", fullEvery, chain[0].ID)
	}
	if len(b.Manifest.Artifacts) == 0 {
		return full(false, "backup %s records no backup artifacts to build on (it was uploaded by hand or by an earlier neo4j-backup)", b.ID)
	}
	byBackup := map[string]*planFetch{}
	var fetch []planFetch
	var order []string
	for _, db := range databases {
		db = strings.ToLower(db)
		if !slices.ContainsFunc(b.Manifest.Artifacts, func(a storage.Artifact) bool { return a.Database == db }) {
			return full(false, "backup %s holds no artifact of database %s", b.ID, db)
		}
		link, artifact := newestArtifact(chain, db)
		if artifact == "" {
			return full(true, "the chain of backup %s holds no artifact of database %s with its transactions", b.ID, db)
		}
		f := byBackup[link.ID]
		if f == nil {
			f = &planFetch{backup: link}
			byBackup[link.ID] = f
			order = append(order, link.ID)
		}
		f.paths = append(f.paths, artifact)
	}
	p := backupPlan{Type: backup.TypeDifferential, Parent: b.ID}
	for _, id := range order {
		fetch = append(fetch, *byBackup[id])
		for _, a := range byBackup[id].paths {
			p.Fetched = append(p.Fetched, path.Base(a))
		}
	}
	return p, fetch
}

// newestArtifact is the newest artifact of database db in chain (oldest
// first) that holds transactions: the one a differential backup builds on.
func newestArtifact(chain []storage.Backup, db string) (storage.Backup, string) {
	for i := len(chain) - 1; i >= 0; i-- {
		arts := chain[i].Manifest.Artifacts
		for j := len(arts) - 1; j >= 0; j-- {
			if a := arts[j]; a.Database == db && (a.Full || a.HighestTx > 0) {
				return chain[i], a.Path
			}
		}
	}
	return storage.Backup{}, ""
}

// backupPlanOptions are backup-plan's flags.
type backupPlanOptions struct {
	from, fullEvery, version, databases, to, plan string
	s3                                            *s3Flags
}

// newBackupPlanCommand is what the backup CronJob's backup-plan init
// container runs on 5.x and calendar versions (README "Scheduled backups");
// hidden, since nobody runs it by hand.
func newBackupPlanCommand() *cobra.Command {
	var o backupPlanOptions
	cmd := &cobra.Command{
		Use:   "backup-plan --from s3://bucket/prefix --full-every AGE --neo4j-version V --databases a,b --to DIR --plan FILE",
		Short: "Decide whether the scheduled backup is full or differential, and fetch the parent's artifacts (run by the backup CronJob)",
		Long: `Decide the type of the next scheduled backup of a 5.x or calendar-version
deployment and write it to --plan as JSON: differential when the newest
complete backup in --from can be restored, was taken by the same Neo4j
major.minor, its chain's full backup is younger than --full-every, and it
holds an artifact of every database; then the chain's newest artifact of
each database is fetched and verified into --to, where neo4j-admin
database backup --type=DIFF builds on it. Otherwise a full backup, with
the reason. It fails only when the plan cannot be written: a store that
cannot be read makes a full backup, and says why.`,
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupPlan(cmd.Context(), o, time.Now(), cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.from, "from", "", "the deployment's backups: s3://bucket/prefix (required)")
	fs.StringVar(&o.fullEvery, "full-every", annotations.DefaultFullEvery, "a full backup at least this often: an age like 1d or 12h")
	fs.StringVar(&o.version, "neo4j-version", "", "the Neo4j version backed up (required)")
	fs.StringVar(&o.databases, "databases", "", "comma list of the databases backed up (required)")
	fs.StringVar(&o.to, "to", "", "the backup folder neo4j-admin writes to (required)")
	fs.StringVar(&o.plan, "plan", "", "write the plan to this file (required)")
	o.s3 = addS3Flags(fs)
	o.s3.addTimeout(fs)
	return cmd
}

func runBackupPlan(ctx context.Context, o backupPlanOptions, now time.Time, stdout io.Writer) error {
	if o.to == "" || o.plan == "" {
		return usagef("--to DIR and --plan FILE are required: where neo4j-admin writes the backup, and where the plan goes")
	}
	version, err := neo4j.ParseVersion(o.version)
	if err != nil {
		return usagef("--neo4j-version: %v", err)
	}
	dbs := annotations.DatabaseList(o.databases)
	if len(dbs) == 0 {
		return usagef("--databases: name the databases backed up, like neo4j,system")
	}
	if _, err := annotations.ParseFullEvery(o.fullEvery); err != nil {
		return usagef("--full-every: %v", err)
	}
	store, err := o.s3.open("from", o.from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.to, 0o755); err != nil {
		return fmt.Errorf("making the backup folder: %v", err)
	}
	plan := backupPlan{Type: backup.TypeFull}
	if backups, err := store.List(ctx); err != nil {
		plan.Reason, plan.Problem = fmt.Sprintf("the backups in %s could not be listed: %v", o.from, oneLine(err)), true
	} else {
		var fetch []planFetch
		plan, fetch = decidePlan(backups, now, o.fullEvery, version, dbs)
		for _, f := range fetch {
			if err := store.FetchFiles(ctx, f.backup, f.paths, o.to); err != nil {
				for _, name := range plan.Fetched {
					os.Remove(filepath.Join(o.to, name))
				}
				plan = backupPlan{Type: backup.TypeFull, Reason: fmt.Sprintf("the artifacts of backup %s's chain could not be fetched: %v", plan.Parent, oneLine(err)), Problem: true}
				break
			}
		}
	}
	data, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.plan, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the backup plan: %v", err)
	}
	if plan.differential() {
		fmt.Fprintf(stdout, "differential backup on backup %s: fetched %s\n", plan.Parent, strings.Join(plan.Fetched, ", "))
	} else {
		fmt.Fprintf(stdout, "full backup: %s\n", plan.Reason)
	}
	return nil
}
