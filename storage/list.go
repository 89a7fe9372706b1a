package storage

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

// maxManifestSize bounds what is read as a manifest: a million files fit.
const maxManifestSize = 256 << 20

// List returns the backups under the location, oldest first, with their
// size, file count and databases.
func (s *Store) List(ctx context.Context) ([]Backup, error) { return s.list(ctx, false) }

// list is List; lenient, it takes a complete backup whose manifest cannot be
// read or decoded as one without a manifest instead of failing, so that one
// damaged manifest does not stop retention for good.
func (s *Store) list(ctx context.Context, lenient bool) ([]Backup, error) {
	backups, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for i := range backups {
		b := &backups[i]
		g.Go(func() error {
			if b.Status == Complete {
				m, err := s.readManifest(ctx, b.ID)
				if err != nil && lenient && ctx.Err() == nil {
					return nil
				}
				if err != nil {
					return err
				}
				b.Manifest, b.Size, b.Files, b.Databases = m, m.Size(), len(m.Files), m.Databases
				return nil
			}
			files, err := s.listFolder(ctx, b.ID)
			if err != nil {
				return err
			}
			b.Files = len(files)
			for _, f := range files {
				b.Size += f.Size
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return backups, nil
}

// scan finds the backup folders under the location and whether each is
// complete: one listing and one HEAD of manifest.json per backup.
func (s *Store) scan(ctx context.Context) ([]Backup, error) {
	var backups []Backup
	var others []string
	for obj := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: s.loc.folder()}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.loc, s.explain(obj.Err))
		}
		name, isFolder := strings.CutSuffix(strings.TrimPrefix(obj.Key, s.loc.folder()), "/")
		if !isFolder {
			continue
		}
		t, legacy, ok := parseFolderName(name)
		if !ok {
			others = append(others, name)
			continue
		}
		b := Backup{ID: name, Time: t, Status: Incomplete}
		if legacy {
			b.Status = Legacy
		}
		backups = append(backups, b)
	}
	if len(backups) == 0 && len(others) > 0 {
		return nil, fmt.Errorf("%s holds no backups, only the folders %s; give the folder that holds the backup IDs, such as %s/%s",
			s.loc, strings.Join(others[:min(len(others), 3)], ", "), s.loc, others[0])
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for i := range backups {
		b := &backups[i]
		if b.Status == Legacy {
			continue
		}
		g.Go(func() error {
			_, err := s.client.StatObject(gctx, s.loc.Bucket, s.loc.key(b.ID, ManifestName), minio.StatObjectOptions{})
			switch {
			case err == nil:
				b.Status = Complete
			case !isNotFound(err):
				return fmt.Errorf("backup %s: %w", b.ID, s.explain(err))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(backups, func(a, b Backup) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	return backups, nil
}

// readManifest reads and checks the manifest of a complete backup.
func (s *Store) readManifest(ctx context.Context, id string) (*Manifest, error) {
	obj, err := s.client.GetObject(ctx, s.loc.Bucket, s.loc.key(id, ManifestName), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("backup %s: reading its manifest: %w", id, s.explain(err))
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxManifestSize))
	if err != nil {
		return nil, fmt.Errorf("backup %s: reading its manifest: %w", id, s.explain(err))
	}
	m, err := decodeManifest(data, id)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	return m, nil
}

// listFolder lists the files of a backup without reading its manifest: the
// only way to know what a legacy or incomplete backup holds.
func (s *Store) listFolder(ctx context.Context, id string) ([]ManifestFile, error) {
	folder := s.loc.backupFolder(id)
	var files []ManifestFile
	for obj := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: folder, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("backup %s: listing its files: %w", id, s.explain(obj.Err))
		}
		path := strings.TrimPrefix(obj.Key, folder)
		if path == "" || strings.HasSuffix(path, "/") {
			continue // a folder marker some tools write
		}
		files = append(files, ManifestFile{Path: path, Size: obj.Size})
	}
	return files, nil
}
