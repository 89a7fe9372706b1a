package podrestore

import "path/filepath"

// The in-pod layout: the names of what the webhook adds to a Neo4j pod and
// the paths the two init containers share. The webhook writes them into the
// pod; the code of this package reads them inside it.
const (
	FetchContainer   = "neo4j-backup-fetch"
	RestoreContainer = "neo4j-backup-restore"
	// PluginsVolume is the emptyDir added when the Neo4j container mounts
	// nothing at /plugins.
	PluginsVolume = "neo4j-backup-plugins"

	DataPath    = "/data"
	PluginsPath = "/plugins"
	// StagePath is where the fetch container puts the backup and a copy of
	// this binary for the restore container.
	StagePath = PluginsPath + "/neo4j-backup"
	// BinaryPath is the copy of this binary the restore container runs.
	BinaryPath = StagePath + "/bin/neo4j-backup"
	// markerInData is the restore marker's path inside the data volume.
	markerInData = ".neo4j-backup/restored"
	// MarkerPath names the restore the data volume already holds.
	MarkerPath = DataPath + "/" + markerInData
)

// MarkerIn is the restore marker's path in a data volume mounted at data.
func MarkerIn(data string) string { return filepath.Join(data, markerInData) }
