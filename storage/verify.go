package storage

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Verify resolves at (see Resolve) and reads every file of that backup from
// the store, checking its size and SHA-256 against the manifest as it
// streams by; nothing is written to disk. It uses the ranged, resumable
// reads of a fetch, so it survives what a fetch survives. The first file
// that differs, or cannot be read, is the error. A legacy backup has no
// manifest to check against, so it cannot be verified.
func (s *Store) Verify(ctx context.Context, at string, opts FetchOptions) (Backup, error) {
	b, err := s.resolveRetrying(ctx, at)
	if err != nil {
		return Backup{}, err
	}
	if b.Status != Complete || b.Manifest == nil {
		return b, fmt.Errorf("backup %s is a legacy backup without a manifest: there are no checksums to verify it against; fetch it to check that it restores", b.ID)
	}
	progress := progressOrNone(opts.Progress)
	progress.Begin(len(b.Manifest.Files), b.Size)
	files := slices.Clone(b.Manifest.Files)
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
			if err := s.verifyFile(gctx, b, f, threads, progress); err != nil {
				return fmt.Errorf("backup %s: file %s: %w", b.ID, f.Path, err)
			}
			progress.FileDone(f.Path)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return b, err
	}
	return b, ctx.Err()
}

// verifyFile reads one file of b and checks it against the manifest.
func (s *Store) verifyFile(ctx context.Context, b Backup, f ManifestFile, threads int, progress Progress) error {
	return s.streamFile(ctx, b, f, threads, io.Discard, true, progress)
}
