package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// UploadOptions are the choices of one upload.
type UploadOptions struct {
	// ID is the backup ID; empty: the time the upload starts.
	ID string
	// Databases in the backup, as the caller knows them: storage does not
	// read Neo4j's file names.
	Databases []string
	// Neo4jVersion of the server backed up, recorded in the manifest when known.
	Neo4jVersion string
	// Warnings to record in the manifest (see Manifest).
	Warnings []string
	Progress Progress
}

// localFile is a file of the folder being uploaded.
type localFile struct {
	path string // relative, forward slashes: its name in the backup
	abs  string
	size int64
}

// Upload stores the files under dir as a new backup and writes its manifest
// last, so the backup is complete only once every file is stored. Files are
// streamed once: their SHA-256 is computed as they are read.
func (s *Store) Upload(ctx context.Context, dir string, opts UploadOptions) (*Manifest, error) {
	start := time.Now().UTC()
	id := opts.ID
	if id == "" {
		id = NewID(start)
	}
	started, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	if _, err := s.client.StatObject(ctx, s.loc.Bucket, s.loc.key(id, ManifestName), minio.StatObjectOptions{}); err == nil {
		return nil, fmt.Errorf("backup %s already exists in %s; pick another ID", id, s.loc)
	} else if !isNotFound(err) {
		return nil, s.explain(err)
	}

	progress := progressOrNone(opts.Progress)
	var total int64
	for _, f := range files {
		total += f.size
	}
	progress.Begin(len(files), total)

	stored, err := s.uploadFiles(ctx, id, files, progress)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	m := &Manifest{
		FormatVersion: FormatVersion,
		BackupID:      id,
		StartTime:     started,
		EndTime:       time.Now().UTC().Truncate(time.Second),
		Neo4jVersion:  opts.Neo4jVersion,
		Databases:     opts.Databases,
		Warnings:      opts.Warnings,
		Files:         stored,
	}
	if err := s.putManifest(ctx, m); err != nil {
		return nil, fmt.Errorf("backup %s: writing the manifest: %w", id, err)
	}
	return m, nil
}

// uploadFiles stores files largest first. At most s.parallel requests run at
// once: a small file takes one slot, a multipart file one per part in flight.
func (s *Store) uploadFiles(parent context.Context, id string, files []localFile, progress Progress) ([]ManifestFile, error) {
	slices.SortStableFunc(files, func(a, b localFile) int { return cmp.Compare(b.size, a.size) })
	stored := make([]ManifestFile, len(files))
	slots := semaphore.NewWeighted(int64(s.parallel))
	g, ctx := errgroup.WithContext(parent)
	for i, f := range files {
		threads := s.partsInFlight(f.size)
		if err := slots.Acquire(ctx, int64(threads)); err != nil {
			break // a file failed; g.Wait reports it
		}
		g.Go(func() error {
			defer slots.Release(int64(threads))
			sum, err := s.uploadFile(ctx, id, f, threads, progress)
			if err != nil {
				return fmt.Errorf("file %s: %w", f.path, err)
			}
			stored[i] = ManifestFile{Path: f.path, Size: f.size, SHA256: sum}
			progress.FileDone(f.path)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	return stored, nil
}

// partsInFlight is how many parts of a file of this size go up at once.
func (s *Store) partsInFlight(size int64) int {
	parts := (size + s.partSize - 1) / s.partSize
	return int(max(1, min(parts, int64(s.parallel))))
}

func (s *Store) uploadFile(ctx context.Context, id string, f localFile, threads int, progress Progress) (string, error) {
	file, err := os.Open(f.abs)
	if err != nil {
		return "", err
	}
	defer file.Close()
	r := newHashingReader(file, progress)
	_, err = s.client.PutObject(ctx, s.loc.Bucket, s.loc.key(id, f.path), r, f.size, minio.PutObjectOptions{
		ContentType:           "application/octet-stream",
		PartSize:              uint64(s.partSize),
		NumThreads:            uint(threads),
		ConcurrentStreamParts: threads > 1, // read in order (for the hash), send in parallel
		// The payload is not signed: the SHA-256 in the (signed) manifest
		// covers it end to end, and fetch checks it. Signing it too would
		// hash every byte twice more over plain HTTP.
		DisableContentSha256: true,
	})
	if err != nil {
		return "", s.explain(err)
	}
	if r.read != f.size {
		return "", fmt.Errorf("changed while it was uploaded (%d bytes read, %d expected); upload from a folder nothing writes to", r.read, f.size)
	}
	return r.sum(), nil
}

func (s *Store) putManifest(ctx context.Context, m *Manifest) error {
	data, err := encodeManifest(m)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, s.loc.Bucket, s.loc.key(m.BackupID, ManifestName),
		strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{ContentType: "application/json"})
	return s.explain(err)
}

// listFiles lists the regular files under dir, following symbolic links to
// files. Empty folders are not kept: object stores have no folders.
func listFiles(dir string) ([]localFile, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("upload folder: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("upload folder %s is a file; give the folder that holds the backup", dir)
	}
	var files []localFile
	err = filepath.WalkDir(dir, func(abs string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(abs) // follows links
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file; a backup folder holds only files and folders", abs)
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestName {
			return fmt.Errorf("%s would clash with the backup's own manifest; move it into a subfolder", abs)
		}
		files = append(files, localFile{path: rel, abs: abs, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("upload folder " + dir + " holds no files; nothing to back up")
	}
	return files, nil
}
