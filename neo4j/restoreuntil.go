package neo4j

import (
	"fmt"
	"slices"
	"time"
)

// RestoreUntilLayout is how neo4j-admin database restore --restore-until
// takes a time: UTC, to the second. The Operations Manual
// (backup-restore/restore-backup.adoc, "Restore data up to a specific
// date") writes it --restore-until="2023-06-29 13:50:45", and the restore
// recovers the transactions committed before it.
const RestoreUntilLayout = "2006-01-02 15:04:05"

// RestoreUntilCommand is RestoreCommand of a backup chain stopped at until:
// from is the chain's last artifact of database, the others in its folder
// (restore-backup.adoc: "--from-path must contain the path to the last
// backup of a chain"), and the restore recovers what was committed before
// until, whose fraction of a second is dropped (neo4j-admin takes whole
// seconds). A zero until restores the whole chain. 4.x has no chains.
//
//	5.x, calendar: neo4j-admin database restore --from-path=PATH --restore-until=YYYY-MM-DD hh:mm:ss --overwrite-destination=true DB
func RestoreUntilCommand(v Version, from, database string, until time.Time, expandCommands bool) ([]string, error) {
	cmd := RestoreCommand(v, from, database, expandCommands)
	if until.IsZero() {
		return cmd, nil
	}
	if v.Major == 4 {
		return nil, fmt.Errorf("Neo4j %s restores whole backups only; restore-until is for Neo4j 5 and later", v)
	}
	// After --from-path, as the manual writes it.
	return slices.Insert(cmd, 4, "--restore-until="+until.UTC().Format(RestoreUntilLayout)), nil
}
