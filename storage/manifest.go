package storage

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// ManifestName is the object written last into every complete backup.
const ManifestName = "manifest.json"

// FormatVersion is the manifest format this code writes and reads.
const FormatVersion = 1

// Manifest describes a complete backup: what it holds and how to check it.
// Warnings are problems neo4j-admin reported that left a good backup (a 4.x
// consistency check that failed, a 5.x exit code 1 with every artifact
// written), each a sentence; added within format version 1, so a manifest
// without them has none.
type Manifest struct {
	FormatVersion int       `json:"formatVersion"`
	BackupID      string    `json:"backupId"`
	StartTime     time.Time `json:"startTime"`
	EndTime       time.Time `json:"endTime"`
	Neo4jVersion  string    `json:"neo4jVersion,omitempty"`
	Databases     []string  `json:"databases"`
	Warnings      []string  `json:"warnings,omitempty"`
	// Type is TypeFull or TypeDifferential, and Parent the backup a
	// differential one builds on; Artifacts describe its 5.x artifacts
	// (README "Scheduled backups", its retention). Added within format
	// version 1: a manifest without them is of a full backup.
	Type      string         `json:"type,omitempty"`
	Parent    string         `json:"parent,omitempty"`
	Artifacts []Artifact     `json:"artifacts,omitempty"`
	Files     []ManifestFile `json:"files"`
	// Folders are the backup's empty folders (relative, forward slashes):
	// an object store holds no folder without a file in it, and Neo4j
	// expects some of its folders even when they are empty. Added within
	// format version 1: a manifest without them has none.
	Folders []string `json:"folders,omitempty"`
}

// ManifestFile is one file of a backup; Path is relative, with forward slashes.
type ManifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
	// PartSize and PartCRC32C check the file piece by piece: the CRC32C
	// (Castagnoli, lowercase hex of its 4 big-endian bytes) of each
	// consecutive PartSize bytes, the last piece shorter, taken at upload
	// of the very bytes the SHA-256 was taken of. Fetch checks each piece
	// as it arrives, in parallel and in hardware, and fetches a piece that
	// does not match again; the SHA-256 is for `verify`, restore drills
	// and a folder fetched earlier (README "By hand"). Added within
	// format version 1: a file without them is checked by its SHA-256 as
	// it streams in.
	PartSize   int64    `json:"partSize,omitempty"`
	PartCRC32C []string `json:"partCrc32c,omitempty"`
}

// parts is how many pieces PartCRC32C should have: none for an empty file.
func (f ManifestFile) parts() int64 {
	if f.PartSize <= 0 {
		return 0
	}
	return (f.Size + f.PartSize - 1) / f.PartSize
}

// Size is the total size of the backup's files.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// decodeManifest reads a manifest and refuses one that could not have been
// written by Upload: a file path that leaves the backup folder would let a
// manifest write anywhere on the machine that fetches it.
func decodeManifest(data []byte, id string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json is not valid JSON: %v", err)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("manifest.json has format version %d; this neo4j-backup reads version %d, use a newer release", m.FormatVersion, FormatVersion)
	}
	if m.BackupID != id {
		return nil, fmt.Errorf("manifest.json names backup %q but lies in folder %q", m.BackupID, id)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if !validFilePath(f.Path) {
			return nil, fmt.Errorf("manifest.json lists file %q, which is not a plain relative path", f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("manifest.json lists file %q twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || len(f.SHA256) != 64 || !validParts(f) {
			return nil, fmt.Errorf("manifest.json has a bad size or checksum for file %q", f.Path)
		}
	}
	files := seen
	if err := checkChainFields(&m, files); err != nil {
		return nil, err
	}
	for _, d := range m.Folders {
		if !plainRelativePath(d) {
			return nil, fmt.Errorf("manifest.json lists folder %q, which is not a plain relative path", d)
		}
		if files[d] {
			return nil, fmt.Errorf("manifest.json lists %q twice, or as a file and a folder", d)
		}
	}
	// No path may lie inside a file: upload cannot have written that, and
	// fetch could not write both.
	for _, p := range append(slices.Collect(maps.Keys(files)), m.Folders...) {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if files[dir] {
				return nil, fmt.Errorf("manifest.json lists %q inside file %q", p, dir)
			}
		}
	}
	seenFolder := make(map[string]bool, len(m.Folders))
	for _, d := range m.Folders {
		if seenFolder[d] {
			return nil, fmt.Errorf("manifest.json lists folder %q twice", d)
		}
		seenFolder[d] = true
	}
	return &m, nil
}

func encodeManifest(m *Manifest) ([]byte, error) {
	slices.SortFunc(m.Files, func(a, b ManifestFile) int { return strings.Compare(a.Path, b.Path) })
	slices.Sort(m.Folders)
	return json.MarshalIndent(m, "", "  ")
}

// validFilePath accepts a file of a backup: a plain relative path that is
// not the manifest itself.
// validParts tells whether a file's piece checksums, if it has any, cover
// its bytes exactly: one 8-digit hex CRC32C per PartSize bytes.
func validParts(f ManifestFile) bool {
	if f.PartSize == 0 && f.PartCRC32C == nil {
		return true
	}
	if f.PartSize < 0 || int64(len(f.PartCRC32C)) != f.parts() {
		return false
	}
	for _, c := range f.PartCRC32C {
		if len(c) != 8 || strings.Trim(c, "0123456789abcdef") != "" {
			return false
		}
	}
	return true
}

func validFilePath(p string) bool { return plainRelativePath(p) && p != ManifestName }

// plainRelativePath accepts a clean relative slash path that stays inside
// its folder.
func plainRelativePath(p string) bool {
	return p != "" && p != "." && path.Clean(p) == p && !path.IsAbs(p) && p != ".." && !strings.HasPrefix(p, "../")
}
