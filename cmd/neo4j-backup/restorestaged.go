package main

import (
	"github.com/spf13/cobra"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// newRestoreStagedCommand is what the injected neo4j-backup-restore
// container runs (README.md, "Restore a StatefulSet"); hidden, since people
// restore with restore or the annotation.
func newRestoreStagedCommand() *cobra.Command {
	var stage, data, databases, role string
	cmd := &cobra.Command{
		Use:    "restore-staged",
		Short:  "Restore the backup the fetch container staged (run by the injected neo4j-backup-restore container)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hint, err := neo4j.ParseRole(role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			return podrestore.Run(cmd.Context(), podrestore.Options{
				Stage:     stage,
				Marker:    podrestore.MarkerIn(data),
				Databases: annotations.SplitList(databases),
				RoleHint:  hint,
				Stderr:    cmd.ErrOrStderr(),
			})
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&stage, "staged", podrestore.StagePath, "the folder the fetch container staged the backup and plan in")
	fs.StringVar(&data, "data", podrestore.DataPath, "Neo4j's data volume, where the restore marker is written")
	fs.StringVar(&databases, "databases", "", "restore only these databases (comma list); all in the backup when empty")
	fs.StringVar(&role, "role", "", "the role the pod's chart labels give it: core, read replica or server; empty when they say none")
	return cmd
}
