package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// DrillsFolder holds, in a complete backup's folder beside its manifest,
// one object per restore drill of that backup: drills/<end time>.json. The
// manifest is never rewritten; a backup's drills are added beside it.
const DrillsFolder = "drills/"

// drillLayout names a drill's object: its end time in UTC, to the
// millisecond, so that names sort by time.
const drillLayout = "2006-01-02T15:04:05.000Z"

// maxDrillSize bounds what is read as a drill result.
const maxDrillSize = 1 << 20

// DrillResult is what one restore drill of a backup found (README "Restore
// drills"): which databases it restored and checked, and, when it failed,
// why, one sentence per database that did not restore or is inconsistent.
type DrillResult struct {
	BackupID     string    `json:"backupId"`
	StartTime    time.Time `json:"startTime"`
	EndTime      time.Time `json:"endTime"`
	Neo4jVersion string    `json:"neo4jVersion,omitempty"`
	Passed       bool      `json:"passed"`
	Databases    []string  `json:"databases"`
	Failures     []string  `json:"failures,omitempty"`
}

// WriteDrill records r beside the manifest of backup r.BackupID, which must
// be complete, and returns the object's key.
func (s *Store) WriteDrill(ctx context.Context, r DrillResult) (string, error) {
	if _, err := ParseID(r.BackupID); err != nil {
		return "", err
	}
	if _, err := s.client.StatObject(ctx, s.loc.Bucket, s.loc.key(r.BackupID, ManifestName), minio.StatObjectOptions{}); err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("backup %s has no manifest in %s: a drill result goes beside the manifest of a complete backup", r.BackupID, s.loc)
		}
		return "", fmt.Errorf("backup %s: %w", r.BackupID, s.explain(err))
	}
	if r.Databases == nil {
		r.Databases = []string{}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	key := s.loc.key(r.BackupID, DrillsFolder+r.EndTime.UTC().Format(drillLayout)+".json")
	if _, err := s.client.PutObject(ctx, s.loc.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return "", fmt.Errorf("backup %s: writing the drill result: %w", r.BackupID, s.explain(err))
	}
	return key, nil
}

// Drills returns the drill results recorded for backup id, oldest first.
func (s *Store) Drills(ctx context.Context, id string) ([]DrillResult, error) {
	prefix := s.loc.key(id, DrillsFolder)
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("backup %s: listing its drills: %w", id, s.explain(obj.Err))
		}
		if strings.HasSuffix(obj.Key, ".json") {
			keys = append(keys, obj.Key)
		}
	}
	slices.Sort(keys)
	results := make([]DrillResult, 0, len(keys))
	for _, key := range keys {
		obj, err := s.client.GetObject(ctx, s.loc.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return nil, fmt.Errorf("backup %s: reading drill %s: %w", id, key, s.explain(err))
		}
		data, err := io.ReadAll(io.LimitReader(obj, maxDrillSize))
		obj.Close()
		if err != nil {
			return nil, fmt.Errorf("backup %s: reading drill %s: %w", id, key, s.explain(err))
		}
		var r DrillResult
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("backup %s: drill %s is not a drill result: %v", id, key, err)
		}
		results = append(results, r)
	}
	return results, nil
}
