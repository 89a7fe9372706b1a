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
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

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
// Every file is checked against the manifest's size and, as it streams in,
// the CRC32C of each of its parts (ManifestFile.PartCRC32C), or its SHA-256
// where a manifest of an earlier release has no part checksums. The files land in a hidden sibling folder that is renamed into
// place only when all of them verified, so on any failure dir is left as it
// was. A folder already there from an earlier fetch is checked against the
// manifest and kept when it matches. Legacy backups have no manifest: they
// are fetched unverified (only their sizes are checked); the returned
// Backup's Status says so.
func (s *Store) Fetch(ctx context.Context, at, dir string, opts FetchOptions) (Backup, string, error) {
	b, err := s.resolveRetrying(ctx, at)
	if err != nil {
		return Backup{}, "", err
	}
	files := []ManifestFile(nil)
	owner := func(string) Backup { return b }
	if b.Status == Complete {
		if files, owner, err = chainFiles(b); err != nil {
			return Backup{}, "", err
		}
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

	if err := s.fetchInto(ctx, b, files, owner, dir, target, progressOrNone(opts.Progress)); err != nil {
		return Backup{}, "", fmt.Errorf("backup %s: %w", b.ID, err)
	}
	return b, target, nil
}

// chainFiles is what fetching complete backup b lands: the files of every
// backup of its chain (b's own when it has none), in one folder, as
// neo4j-admin restores a chain; and which backup holds each.
func chainFiles(b Backup) ([]ManifestFile, func(path string) Backup, error) {
	links := b.links
	if len(links) == 0 {
		links = []Backup{b}
	}
	var files []ManifestFile
	held := map[string]Backup{}
	for _, l := range links {
		for _, f := range l.Manifest.Files {
			if other, ok := held[f.Path]; ok {
				return nil, nil, fmt.Errorf("backups %s and %s of one chain both hold %s; fetch them one by one", other.ID, l.ID, f.Path)
			}
			held[f.Path] = l
			files = append(files, f)
		}
	}
	return files, func(path string) Backup { return held[path] }, nil
}

// FetchFiles fetches the files paths of complete backup b straight into
// dir, by their base names, each checked as Fetch checks it: the parent's
// artifacts, which neo4j-admin builds a differential backup on. A file that
// fails is removed.
func (s *Store) FetchFiles(ctx context.Context, b Backup, paths []string, dir string) error {
	if b.Manifest == nil {
		return fmt.Errorf("backup %s has no manifest to fetch files by", b.ID)
	}
	for _, p := range paths {
		i := slices.IndexFunc(b.Manifest.Files, func(f ManifestFile) bool { return f.Path == p })
		if i < 0 {
			return fmt.Errorf("backup %s holds no file %s", b.ID, p)
		}
		f := b.Manifest.Files[i]
		to := filepath.Join(dir, path.Base(p))
		if err := s.fetchFile(ctx, b, f, to, s.partsInFlight(f.Size), noProgress{}); err != nil {
			os.Remove(to)
			return fmt.Errorf("backup %s: file %s: %w", b.ID, p, err)
		}
	}
	return nil
}

// resolveRetrying is Resolve for a fetch, under the same rule as the
// transfer: a store that is down, restarting or overloaded is asked again
// (minio-go retries each request for a few seconds only), until it answers
// or --timeout has passed without an answer.
func (s *Store) resolveRetrying(ctx context.Context, at string) (Backup, error) {
	ctx, watch := watchStalls(ctx, s.stall, errNoProgress)
	defer watch.stop()
	backoff := retryBackoff()
	var last error
	for retries := 0; ; retries++ {
		b, err := s.Resolve(ctx, at)
		switch {
		case err == nil:
			return b, nil
		case watch.fired(ctx):
			msg := fmt.Sprintf("no answer from %s for %s while looking for backup %q", s.endpoint, s.stall, at)
			if what, _ := serverTrouble(s3Error(last)); what != "" {
				msg += "; it " + what
			} else if refused(last) {
				msg += " (connection refused)"
			}
			return Backup{}, &storeError{msg: msg + "; check the network to the store and that it is up, or raise --timeout", err: err}
		case ctx.Err() != nil:
			return Backup{}, ctx.Err()
		case retries >= s.retries || !unavailable(err):
			return Backup{}, err
		}
		last = err
		wait := time.NewTimer(backoff.Step())
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
		}
	}
}

// unavailable tells whether err says the store could not be reached or
// could not serve just then: what a restart or an overload looks like.
func unavailable(err error) bool {
	what, _ := serverTrouble(s3Error(err))
	return what != "" || refused(err) || dropped(err)
}

// fetchInto downloads files into a temporary folder next to target and
// renames it to target once all of them are in and verified.
func (s *Store) fetchInto(ctx context.Context, b Backup, files []ManifestFile, owner func(path string) Backup, dir, target string, progress Progress) (err error) {
	started := time.Now()
	made, err := makeFolder(dir)
	if err != nil {
		return err
	}
	removeStalePartials(dir, started)
	tmp, err := os.MkdirTemp(dir, "."+b.ID+partialInfix)
	if err != nil {
		if made != "" {
			os.RemoveAll(made)
		}
		return err
	}
	lock, err := lockFolder(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		if made != "" {
			os.RemoveAll(made)
		}
		return fmt.Errorf("locking %s: %w", tmp, err)
	}
	defer lock.Close()
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
			if made != "" {
				os.RemoveAll(made)
			}
		}
	}()

	var size int64
	for _, f := range files {
		size += f.Size
	}
	progress.Begin(len(files), size)
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
			if err := s.fetchFile(gctx, owner(f.Path), f, filepath.Join(tmp, filepath.FromSlash(f.Path)), threads, progress); err != nil {
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
	if b.Manifest != nil {
		if err := makeFolders(tmp, b.Manifest.Folders); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("moving the fetched backup into place: %w", err)
	}
	return nil
}

// partialInfix names the hidden folders a fetch fills:
// .<backup-id>.partial-<random>.
const partialInfix = ".partial-"

// lockFolder takes an exclusive lock on a folder, held until the returned
// file is closed or the process ends, however it ends. It tells a fetch
// that is running from one that was killed.
func lockFolder(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStalePartials removes the hidden folders that fetches into dir
// left when they were killed (a pod's init container evicted, a person's
// ^C before cleanup, an OOM kill), which would otherwise fill the staging
// volume fetch after fetch. A folder is stale when no process holds its
// lock (every fetch locks its own until it ends) and it was last changed
// before this fetch started, so that the folder of a concurrent fetch by
// an older release, which takes no lock, is left alone while it is being
// filled. It is best effort: what cannot be removed stays.
func removeStalePartials(dir string, started time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, ".") || !strings.Contains(name, partialInfix) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(started) {
			continue
		}
		path := filepath.Join(dir, name)
		lock, err := lockFolder(path)
		if err != nil {
			continue // a fetch still running holds it
		}
		os.RemoveAll(path)
		lock.Close()
	}
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
	key := s.loc.key(b.ID, f.Path)
	if b.Status == Complete && len(f.PartCRC32C) > 0 {
		if err := s.fetchPieces(ctx, f, key, file, threads, progress); err != nil {
			return s.explainMissing(err)
		}
		return file.Close()
	}
	if err := s.streamFile(ctx, b, f, threads, file, b.Status == Complete, progress); err != nil {
		return err
	}
	return file.Close()
}

// streamFile reads file f of backup b, in order, into dst, checking its size
// and, when check, its SHA-256 as it streams: the way fetch checks a file
// without part checksums, and verify every file.
func (s *Store) streamFile(ctx context.Context, b Backup, f ManifestFile, threads int, dst io.Writer, check bool, progress Progress) error {
	// Bytes are counted as they arrive, by getRange, not as they are written.
	w := newHashingWriter(dst, noProgress{})
	key := s.loc.key(b.ID, f.Path)
	switch {
	case f.Size == 0:
	case threads > 1:
		if err := s.fetchParts(ctx, f.Path, key, f.Size, threads, w, progress); err != nil {
			return s.explainMissing(err)
		}
	default:
		if err := s.getRange(ctx, f.Path, key, 0, f.Size, f.Size, nil, w, progress); err != nil {
			return s.explainMissing(err)
		}
	}
	if w.written != f.Size {
		return fmt.Errorf("size mismatch: the manifest says %d bytes, the store has %d", f.Size, w.written)
	}
	if check && w.sum() != f.SHA256 {
		return fmt.Errorf("checksum mismatch: the manifest says SHA-256 %s, the store has %s; the object was changed or damaged after upload", f.SHA256, w.sum())
	}
	return nil
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

// makeFolders creates the backup's empty folders under dir: object stores
// have no folders, so an empty one is only in the manifest, and Neo4j
// expects some of its folders to be there even when they hold nothing.
func makeFolders(dir string, folders []string) error {
	for _, f := range folders {
		if !plainRelativePath(f) {
			return fmt.Errorf("folder %q is not a plain relative path; it cannot be fetched", f)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(f)), 0o755); err != nil {
			return &localError{err}
		}
	}
	return nil
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
