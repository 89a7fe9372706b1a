package storage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// FetchOptions are the choices of one fetch.
type FetchOptions struct {
	Progress Progress
}

// Fetch resolves at (see Resolve) and fetches that backup into
// dir/<backup-id>/, returning the backup and that path.
//
// Every file is checked against the manifest's size and SHA-256 as it
// streams in. The files land in a hidden sibling folder that is renamed into
// place only when all of them verified, so on any failure dir is left as it
// was. A folder already there from an earlier fetch is checked against the
// manifest and kept when it matches. Legacy backups have no manifest: they
// are fetched unverified (only their sizes are checked); the returned
// Backup's Status says so.
func (s *Store) Fetch(ctx context.Context, at, dir string, opts FetchOptions) (Backup, string, error) {
	b, err := s.Resolve(ctx, at)
	if err != nil {
		return Backup{}, "", err
	}
	files := []ManifestFile(nil)
	if b.Status == Complete {
		files = b.Manifest.Files
	} else {
		if files, err = s.listFolder(ctx, b.ID); err != nil {
			return Backup{}, "", err
		}
		for _, f := range files {
			if !plainRelativePath(f.Path) {
				return Backup{}, "", fmt.Errorf("backup %s: object %q is not a plain relative path; it cannot be fetched", b.ID, f.Path)
			}
		}
		b.Files = len(files)
		for _, f := range files {
			b.Size += f.Size
		}
	}

	target := filepath.Join(dir, b.ID)
	if _, err := os.Lstat(target); err == nil {
		if b.Status != Complete {
			return Backup{}, "", fmt.Errorf("%s already exists and backup %s has no manifest to check it against; remove it to fetch again", target, b.ID)
		}
		if err := verifyFolder(target, files); err != nil {
			return Backup{}, "", fmt.Errorf("%s already exists but does not match backup %s: %w; remove it to fetch again", target, b.ID, err)
		}
		return b, target, nil
	}

	if err := s.fetchInto(ctx, b, files, dir, target, progressOrNone(opts.Progress)); err != nil {
		return Backup{}, "", fmt.Errorf("backup %s: %w", b.ID, err)
	}
	return b, target, nil
}

// fetchInto downloads files into a temporary folder next to target and
// renames it to target once all of them are in and verified.
func (s *Store) fetchInto(ctx context.Context, b Backup, files []ManifestFile, dir, target string, progress Progress) (err error) {
	made, err := makeFolder(dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "."+b.ID+".partial-")
	if err != nil {
		if made != "" {
			os.RemoveAll(made)
		}
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
			if made != "" {
				os.RemoveAll(made)
			}
		}
	}()

	progress.Begin(len(files), b.Size)
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(x, y ManifestFile) int { return cmp.Compare(y.Size, x.Size) })
	slots := semaphore.NewWeighted(int64(s.parallel))
	g, gctx := errgroup.WithContext(ctx)
	for _, f := range files {
		threads := s.partsInFlight(f.Size)
		if slots.Acquire(gctx, int64(threads)) != nil {
			break
		}
		g.Go(func() error {
			defer slots.Release(int64(threads))
			if err := s.fetchFile(gctx, b, f, filepath.Join(tmp, filepath.FromSlash(f.Path)), threads, progress); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
			progress.FileDone(f.Path)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("moving the fetched backup into place: %w", err)
	}
	return nil
}

// copyBuffers are the buffers fetched bytes pass through on their way to disk.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func (s *Store) fetchFile(ctx context.Context, b Backup, f ManifestFile, path string, threads int, progress Progress) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer file.Close()
	w := newHashingWriter(file, progress)
	switch {
	case f.Size == 0:
	case threads > 1:
		if err := s.fetchParts(ctx, s.loc.key(b.ID, f.Path), f.Size, threads, w); err != nil {
			return s.explainMissing(err)
		}
	default:
		obj, err := s.client.GetObject(ctx, s.loc.Bucket, s.loc.key(b.ID, f.Path), minio.GetObjectOptions{})
		if err != nil {
			return s.explainMissing(err)
		}
		defer obj.Close()
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		// One byte more than expected shows an object longer than the manifest says.
		if _, err := io.CopyBuffer(w, io.LimitReader(obj, f.Size+1), *buf); err != nil {
			return s.explainMissing(err)
		}
	}
	if w.written != f.Size {
		return fmt.Errorf("size mismatch: the manifest says %d bytes, the store has %d", f.Size, w.written)
	}
	if b.Status == Complete && w.sum() != f.SHA256 {
		return fmt.Errorf("checksum mismatch: the manifest says SHA-256 %s, the store has %s; the object was changed or damaged after upload", f.SHA256, w.sum())
	}
	return file.Close()
}

func (s *Store) explainMissing(err error) error {
	if isNotFound(err) {
		return errors.New("missing from the store: the object was deleted after upload")
	}
	return s.explain(err)
}

// makeFolder creates dir if needed and returns the topmost folder it created,
// so that a failed fetch can leave the file system as it found it.
func makeFolder(dir string) (made string, err error) {
	dir = filepath.Clean(dir)
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		made = p
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return made, nil
}

// verifyFolder checks files already on disk against the manifest.
func verifyFolder(dir string, files []ManifestFile) error {
	for _, f := range files {
		file, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, file)
		file.Close()
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("file %s differs", f.Path)
		}
	}
	return nil
}
