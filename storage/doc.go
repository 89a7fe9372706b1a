// Package storage keeps Neo4j backups in S3-compatible object storage.
//
// A location is s3://bucket/prefix. Each backup is a folder under it named
// by its backup ID, the UTC time it started (2021-11-11T10:00:00Z):
//
//	<prefix>/<backup-id>/<files…>
//	<prefix>/<backup-id>/manifest.json
//
// manifest.json is written last and lists every file with its size and
// SHA-256. A folder with a manifest is a complete backup; one without is
// incomplete (an upload still running, or one that died) and is never
// restored. Folders named like 11Nov2021-10:00:00, written by the old
// s3cmd CronJob, are legacy backups: restorable by exact name, unverified.
//
// Upload, Fetch, List, Resolve and Prune are methods of a Store, which Open
// connects to one location.
package storage
