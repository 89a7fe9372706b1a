package podrestore

import "path/filepath"

// The in-pod layout: the names of what the webhook adds to a Neo4j pod and
// the paths the two init containers share. The webhook writes them into the
// pod; the code of this package reads them inside it.
const (
	FetchContainer   = "neo4j-backup-fetch"
	RestoreContainer = "neo4j-backup-restore"
	// StageVolume is the volume the webhook adds when the Neo4j container
	// mounts nothing at /plugins. Only the init containers mount it, at
	// StageMountPath: a volume at /plugins would become Neo4j's plugins
	// directory and hide the plugins in its image (README "Restore a
	// StatefulSet").
	StageVolume = "neo4j-backup-stage"
	// StageMountPath is where the init containers mount StageVolume.
	StageMountPath = "/neo4j-backup"

	DataPath    = "/data"
	PluginsPath = "/plugins"
	// StagePath is where the fetch container puts the backup and a copy of
	// this binary for the restore container in a pod whose Neo4j container
	// mounts a volume at /plugins; StagePathsFor gives the stage of any pod.
	StagePath = PluginsPath + "/neo4j-backup"
	// BinaryPath is the copy of this binary the restore container runs in
	// such a pod.
	BinaryPath = StagePath + "/" + binaryInStage
	// stageInVolume is the stage folder in StageVolume: a folder below the
	// mount, since the fetch container clears the stage folder by removing
	// it, which a mount point cannot be.
	stageInVolume = StageMountPath + "/stage"
	binaryInStage = "bin/neo4j-backup"
	// markerInData is the restore marker's path inside the data volume.
	markerInData = ".neo4j-backup/restored"
	// MarkerPath names the restore the data volume already holds.
	MarkerPath = DataPath + "/" + markerInData
)

// StagePaths are where in a pod the fetch container stages the backup for the
// restore container.
type StagePaths struct {
	// MountPath is where the init containers mount the volume the stage is
	// on: the Neo4j container's /plugins mount, or StageVolume.
	MountPath string
	// Dir is the stage folder: fetch --to, restore-staged --staged.
	Dir string
	// Binary is the copy of this binary the restore container runs: fetch
	// --install-self, and the restore container's command.
	Binary string
}

// StagePathsFor is the stage of a pod whose Neo4j container mounts a volume at
// /plugins (plugins) or not: in that volume, the seed's way, or else in
// StageVolume.
func StagePathsFor(plugins bool) StagePaths {
	if plugins {
		return StagePaths{MountPath: PluginsPath, Dir: StagePath, Binary: BinaryPath}
	}
	return StagePaths{MountPath: StageMountPath, Dir: stageInVolume, Binary: stageInVolume + "/" + binaryInStage}
}

// MarkerIn is the restore marker's path in a data volume mounted at data.
func MarkerIn(data string) string { return filepath.Join(data, markerInData) }
