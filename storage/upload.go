package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	// Type, Parent and Artifacts make a differential backup part of a chain
	// (Manifest.Type): Type TypeDifferential needs the ID of the parent, a
	// complete backup at the same location. Empty Type: a full backup.
	Type      string
	Parent    string
	Artifacts []Artifact
	// Exclude names files of dir (relative, forward slashes) that are not
	// part of this backup: the parent's artifacts, fetched for neo4j-admin
	// to build a differential backup on, which are in S3 already.
	Exclude  []string
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
// read once: their SHA-256 is computed as they are read, and every part and
// small file goes with a checksum the store checks (see checksumKind), so
// what the manifest says is what the store holds.
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
	files, folders, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	files = slices.DeleteFunc(files, func(f localFile) bool { return slices.Contains(opts.Exclude, f.path) })
	if opts.Type == TypeDifferential {
		if err := s.checkParent(ctx, opts.Parent, started); err != nil {
			return nil, fmt.Errorf("backup %s: %w", id, err)
		}
	}
	if _, err := s.client.StatObject(ctx, s.loc.Bucket, s.loc.key(id, ManifestName), minio.StatObjectOptions{}); err == nil {
		return nil, fmt.Errorf("backup %s already exists in %s; pick another ID", id, s.loc)
	} else if !isNotFound(err) {
		return nil, s.explainUpload(err)
	}
	// Housekeeping: a failure here leaves the leftovers to the next run.
	var large []string
	for _, f := range files {
		if f.size > s.partSize {
			large = append(large, s.loc.key(id, f.path))
		}
	}
	s.abortLeftovers(ctx, id, large, start)
	kind, err := s.checksumKind(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}

	progress := progressOrNone(opts.Progress)
	var total int64
	for _, f := range files {
		total += f.size
	}
	progress.Begin(len(files), total)

	watched, watch := watchStalls(ctx, s.stall, errNoProgress)
	run := &uploadRun{id: id, kind: kind, progress: progress, watch: watch, unwatched: ctx}
	stored, err := s.uploadFiles(watched, run, files)
	stalled := watch.fired(watched)
	watch.stop()
	if stalled {
		return nil, fmt.Errorf("backup %s: %w", id, s.uploadStalled())
	}
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
		Type:          opts.Type,
		Parent:        opts.Parent,
		Artifacts:     opts.Artifacts,
		Files:         stored,
		Folders:       folders,
	}
	uploaded := map[string]bool{}
	for _, f := range stored {
		uploaded[f.Path] = true
	}
	// What Upload writes, decodeManifest must take.
	if err := checkChainFields(m, uploaded); err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	if err := s.putManifest(ctx, m, kind); err != nil {
		return nil, fmt.Errorf("backup %s: writing the manifest: %w", id, err)
	}
	return m, nil
}

// checkParent refuses a differential backup whose parent is not a complete
// backup older than it at this location: it would be a chain no restore
// can use.
func (s *Store) checkParent(ctx context.Context, parent string, started time.Time) error {
	t, err := ParseID(parent)
	if err != nil {
		return fmt.Errorf("a differential backup needs its parent's backup ID: %w", err)
	}
	if !t.Before(started) {
		return fmt.Errorf("parent %s is not older than the backup", parent)
	}
	if _, err := s.readManifest(ctx, parent); err != nil {
		return fmt.Errorf("its parent is not a complete backup in %s: %w; take a full backup", s.loc, err)
	}
	return nil
}

// uploadRun is what the files of one Upload share.
type uploadRun struct {
	id       string
	kind     partChecksum
	progress Progress
	// watch fails the upload when no byte goes out for the stall timeout
	// (Config.StallTimeout): a store that stops taking data, or answers
	// nothing, does not hold the upload for each request's retries in turn.
	watch *stallWatch
	// unwatched is the caller's context, for completing a multipart
	// upload: the store may take long to put a large object together,
	// moving no data meanwhile.
	unwatched context.Context
}

// uploadFiles stores files largest first. At most s.parallel requests run at
// once: a small file takes one slot, a multipart file one per part in flight.
func (s *Store) uploadFiles(parent context.Context, run *uploadRun, files []localFile) ([]ManifestFile, error) {
	slices.SortStableFunc(files, func(a, b localFile) int { return cmp.Compare(b.size, a.size) })
	stored := make([]ManifestFile, len(files))
	slots := semaphore.NewWeighted(int64(s.parallel))
	g, ctx := errgroup.WithContext(parent)
	for i, f := range files {
		threads := s.partsInFlight(f.size)
		if err := slots.Acquire(ctx, int64(threads)); err != nil {
			break // a file failed; g.Wait reports it
		}
		g.Go(func() (err error) {
			defer slots.Release(int64(threads))
			stored[i], err = s.uploadFile(ctx, run, f, threads)
			if err != nil {
				return fmt.Errorf("file %s: %w", f.path, err)
			}
			run.progress.FileDone(f.path)
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

// sendTries is how often a part or small file the store received damaged
// (it did not match its checksum) is sent. Other failures are retried by
// minio-go itself (Config.Retries).
const sendTries = 3

// uploadFile stores one file, in one request up to the part size, else as a
// multipart upload with threads parts in flight, and returns what the
// manifest says of it: its size, SHA-256 and the CRC32C of each part.
func (s *Store) uploadFile(ctx context.Context, run *uploadRun, f localFile, threads int) (ManifestFile, error) {
	stored := ManifestFile{Path: f.path, Size: f.size}
	file, err := os.Open(f.abs)
	if err != nil {
		return stored, err
	}
	defer file.Close()
	key := s.loc.key(run.id, f.path)
	hash := sha256.New()
	if f.size <= s.partSize {
		buf := s.partBuffers.get(f.size)
		defer s.partBuffers.put(buf)
		if err := readPart(file, buf, f); err != nil {
			return stored, err
		}
		hash.Write(buf)
		if f.size > 0 {
			stored.PartSize, stored.PartCRC32C = s.partSize, []string{partCRC(buf)}
		}
		if err := atEnd(file, f); err != nil {
			return stored, err
		}
		err := s.send(ctx, run, f.path, file, 0, buf, func(sum []byte, body *sendReader) (string, error) {
			md5b64, meta := checksumArgs(run.kind, sum)
			info, err := s.core().PutObject(ctx, s.loc.Bucket, key, body, int64(len(buf)), md5b64, "", minio.PutObjectOptions{
				ContentType:  "application/octet-stream",
				UserMetadata: meta,
				// The payload is not signed: the checksum the store checks
				// covers it, and signing it too would hash every byte again.
				DisableContentSha256: true,
			})
			return info.ETag, err
		})
		if err != nil {
			return stored, err
		}
		stored.SHA256 = hex.EncodeToString(hash.Sum(nil))
		return stored, nil
	}

	if err := s.uploadParts(ctx, run, key, file, f, threads, hash, &stored); err != nil {
		return stored, err
	}
	stored.SHA256 = hex.EncodeToString(hash.Sum(nil))
	return stored, nil
}

// uploadParts sends a large file as a multipart upload. The file is read in
// order, once, into at most threads+1 part buffers, feeding hash and the
// parts' CRC32C in stored; the parts go up in parallel. A failed upload is aborted, so the store keeps nothing
// of it (what abort cannot reach, abortLeftovers removes later).
func (s *Store) uploadParts(ctx context.Context, run *uploadRun, key string, file *os.File, f localFile, threads int, hash hash.Hash, stored *ManifestFile) (err error) {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if run.kind == checksumCRC32C {
		// Parts may carry a checksum only in an upload created with its algorithm.
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": "CRC32C"}
	}
	// Created whether or not ctx ends meanwhile (another file failed, the
	// upload was stopped): a request cut off after the store made the upload
	// would leave it open with no ID to abort it by.
	create, cancel := run.outlive(ctx)
	uploadID, err := s.core().NewMultipartUpload(create, s.loc.Bucket, key, opts)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.explainUpload(err)
	}
	defer func() {
		if err != nil {
			abort, cancel := run.outlive(ctx)
			defer cancel()
			s.core().AbortMultipartUpload(abort, s.loc.Bucket, key, uploadID)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}

	partSize := s.partSizeFor(f.size)
	count := int((f.size + partSize - 1) / partSize)
	parts := make([]minio.CompletePart, count)
	stored.PartSize, stored.PartCRC32C = partSize, make([]string, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(threads)
	for i := range count {
		off := int64(i) * partSize
		buf := s.partBuffers.get(min(partSize, f.size-off))
		if err := readPart(file, buf, f); err != nil {
			s.partBuffers.put(buf)
			g.Wait()
			return err
		}
		hash.Write(buf)
		stored.PartCRC32C[i] = partCRC(buf)
		number := i + 1
		g.Go(func() error {
			defer s.partBuffers.put(buf)
			var etag, checksum string
			what := fmt.Sprintf("%s (part %d of %d)", f.path, number, count)
			err := s.send(gctx, run, what, file, off, buf, func(sum []byte, body *sendReader) (string, error) {
				md5b64, meta := checksumArgs(run.kind, sum)
				part, err := s.core().PutObjectPart(gctx, s.loc.Bucket, key, uploadID, number, body, int64(len(buf)),
					minio.PutObjectPartOptions{Md5Base64: md5b64, CustomHeader: header(meta), DisableContentSha256: true})
				etag, checksum = part.ETag, meta["X-Amz-Checksum-Crc32c"]
				return part.ETag, err
			})
			if err != nil {
				return fmt.Errorf("part %d of %d: %w", number, count, err)
			}
			parts[i] = minio.CompletePart{PartNumber: number, ETag: etag, ChecksumCRC32C: checksum}
			return nil
		})
		if gctx.Err() != nil {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := atEnd(file, f); err != nil {
		return err
	}
	// The store may take minutes to put a large object together, moving no
	// data: that is not a stall, and a store that never answers is caught
	// by the transport's ResponseHeaderTimeout (the stall timeout).
	completing := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-completing:
				return
			case <-tick.C:
				run.watch.kick()
			}
		}
	}()
	_, err = s.core().CompleteMultipartUpload(run.unwatched, s.loc.Bucket, key, uploadID, parts, minio.PutObjectOptions{})
	close(completing)
	return s.explainUpload(err)
}

// maxParts is S3's limit on the parts of one object.
const maxParts = 10000

// partSizeFor is the part size of a file: the store's, or for a file too big
// for maxParts of it (over 156 GiB with 16 MiB parts) the smallest whole MiB
// that fits, as the AWS CLI does. Such parts take more memory, parts in
// flight times their size.
func (s *Store) partSizeFor(size int64) int64 {
	if size <= s.partSize*maxParts {
		return s.partSize
	}
	need := (size + maxParts - 1) / maxParts
	return (need + 1<<20 - 1) &^ (1<<20 - 1)
}

// send sends buf, the bytes at off of file (nil: buf is all there is), with
// put, until the store takes them undamaged. When the store says they
// arrived damaged, they are read from the file again and summed again: the
// same sum means the damage was on the way and they are sent again; another
// sum means the file changed under the upload, and its SHA-256 (taken on the
// first read) would be wrong.
//
// Why this is enough: the sum is taken of the very buffer that fed the
// file's SHA-256, and the store checks it before it keeps the bytes, so a
// part or file it keeps is what the manifest describes. Verifying after the
// upload (a GET of everything) would double the traffic for no more safety.
func (s *Store) send(ctx context.Context, run *uploadRun, what string, file *os.File, off int64, buf []byte,
	put func(sum []byte, body *sendReader) (etag string, err error)) error {
	kind := run.kind
	sum := kind.sum(buf)
	var high int64
	for try := 1; ; try++ {
		body := newSendReader(buf, run.progress, run.watch, &high)
		etag, err := put(sum, body)
		if err == nil && kind.etagDiffers(etag, sum) {
			err = errETagDiffers
		}
		if err == nil {
			return nil
		}
		body.unsent()
		if !isDamaged(err) {
			return s.explainUpload(err)
		}
		if try == sendTries {
			return s.explainUpload(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r, ok := run.progress.(RetryProgress); ok {
			r.Retrying(what, fmt.Sprintf("%s received it damaged (%s), sending it again", s.endpoint, codeOr(minio.ToErrorResponse(err), "ETag mismatch")))
		}
		if file != nil {
			if _, err := file.ReadAt(buf, off); err != nil {
				return fmt.Errorf("reading it again: %w", err)
			}
		}
		if !bytes.Equal(kind.sum(buf), sum) {
			return errors.New("changed while it was uploaded; upload from a folder nothing writes to")
		}
	}
}

// readPart fills buf from file, which must not end before it.
func readPart(file *os.File, buf []byte, f localFile) error {
	if _, err := io.ReadFull(file, buf); err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("changed while it was uploaded (it has fewer than the %d bytes it had); upload from a folder nothing writes to", f.size)
	} else if err != nil {
		return err
	}
	return nil
}

// atEnd checks that file has nothing after its size.
func atEnd(file *os.File, f localFile) error {
	var one [1]byte
	if n, _ := file.Read(one[:]); n > 0 {
		return fmt.Errorf("changed while it was uploaded (it grew beyond the %d bytes it had); upload from a folder nothing writes to", f.size)
	}
	return nil
}

// checksumArgs are the Content-MD5 and the extra headers that carry sum.
func checksumArgs(kind partChecksum, sum []byte) (md5Base64 string, headers map[string]string) {
	if kind == checksumMD5 {
		return base64.StdEncoding.EncodeToString(sum), nil
	}
	return "", map[string]string{"X-Amz-Checksum-Crc32c": base64.StdEncoding.EncodeToString(sum)}
}

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func (s *Store) core() minio.Core { return minio.Core{Client: s.client} }

// outlive is the context of a request whose loss would leave something in
// the store (a multipart upload made but not known by its ID, or one not
// aborted): it outlives ctx (another file failed, the upload was stopped)
// for up to abortTimeout, but not a silent store. Once the stall watch has
// fired, such a request gets silentStoreTry more, so that the upload gives
// up --timeout after the store fell silent, not abortTimeout later; what it
// leaves, the next upload or prune aborts (abortLeftovers).
func (run *uploadRun) outlive(ctx context.Context) (context.Context, context.CancelFunc) {
	if run.watch.hasFired() {
		return context.WithTimeout(context.WithoutCancel(ctx), silentStoreTry)
	}
	out, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	stop := context.AfterFunc(ctx, func() {
		if run.watch.hasFired() {
			time.AfterFunc(silentStoreTry, cancel)
		}
	})
	return out, func() { stop(); cancel() }
}

const (
	abortTimeout   = 30 * time.Second
	silentStoreTry = time.Second
)

func (s *Store) putManifest(ctx context.Context, m *Manifest, kind partChecksum) error {
	data, err := encodeManifest(m)
	if err != nil {
		return err
	}
	run := &uploadRun{id: m.BackupID, kind: kind, progress: noProgress{}}
	return s.send(ctx, run, ManifestName, nil, 0, data, func(sum []byte, body *sendReader) (string, error) {
		md5b64, meta := checksumArgs(kind, sum)
		info, err := s.core().PutObject(ctx, s.loc.Bucket, s.loc.key(m.BackupID, ManifestName), body, int64(len(data)), md5b64, "",
			minio.PutObjectOptions{ContentType: "application/json", UserMetadata: meta, DisableContentSha256: true})
		return info.ETag, err
	})
}

// listFiles lists the regular files under dir, following symbolic links to
// files. Empty folders are not kept: object stores have no folders.
func listFiles(dir string) (files []localFile, emptyFolders []string, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("upload folder: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("upload folder %s is a file; give the folder that holds the backup", dir)
	}
	err = filepath.WalkDir(dir, func(abs string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// An empty folder is recorded in the manifest: S3 cannot
			// hold it. One that holds only empty folders comes back with
			// them.
			if entries, err := os.ReadDir(abs); err == nil && len(entries) == 0 && rel != "." {
				emptyFolders = append(emptyFolders, rel)
			}
			return nil
		}
		info, err := os.Stat(abs) // follows links
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file; a backup folder holds only files and folders", abs)
		}
		if rel == ManifestName {
			return fmt.Errorf("%s would clash with the backup's own manifest; move it into a subfolder", abs)
		}
		files = append(files, localFile{path: rel, abs: abs, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, errors.New("upload folder " + dir + " holds no files; nothing to back up")
	}
	return files, emptyFolders, nil
}

// checksumKinds is what each store (endpoint and bucket) was found to check,
// decided at its first upload in this process.
var checksumKinds struct {
	sync.Mutex
	m map[string]partChecksum
}

// checksumKind finds out, once per store, whether it checks CRC32C: it sends
// a small object under the backup's folder with a wrong
// x-amz-checksum-crc32c. AWS S3, MinIO and versitygw refuse it (BadDigest or
// the like), and then every part and small file carries CRC32C. A store that
// stores it anyway ignores the header (older Ceph, some appliances): the
// object is removed and Content-MD5 is used, which every S3 store checks.
func (s *Store) checksumKind(ctx context.Context, id string) (partChecksum, error) {
	which := s.endpoint + "/" + s.loc.Bucket
	checksumKinds.Lock()
	kind, ok := checksumKinds.m[which]
	checksumKinds.Unlock()
	if ok {
		return kind, nil
	}
	probe := []byte("neo4j-backup checks whether this store verifies CRC32C\n")
	wrong := checksumCRC32C.sum(probe)
	wrong[0] ^= 1
	key := s.loc.key(id, ".neo4j-backup-checksum-probe")
	_, err := s.core().PutObject(ctx, s.loc.Bucket, key, bytes.NewReader(probe), int64(len(probe)), "", "", minio.PutObjectOptions{
		UserMetadata:         map[string]string{"X-Amz-Checksum-Crc32c": base64.StdEncoding.EncodeToString(wrong)},
		DisableContentSha256: true,
	})
	switch {
	case err == nil:
		kind = checksumMD5
		if err := s.client.RemoveObject(ctx, s.loc.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
			return 0, s.explainUpload(err)
		}
	case isDamaged(err):
		kind = checksumCRC32C
	case minio.ToErrorResponse(err).Code != "" && minio.ToErrorResponse(err).StatusCode/100 == 4:
		kind = checksumMD5 // it does not take the header at all
	default:
		return 0, s.explainUpload(err)
	}
	checksumKinds.Lock()
	if checksumKinds.m == nil {
		checksumKinds.m = map[string]partChecksum{}
	}
	checksumKinds.m[which] = kind
	checksumKinds.Unlock()
	return kind, nil
}

// abortLeftovers aborts the multipart uploads under the location that no
// upload will complete: those that an upload which failed could not abort
// (the store was unreachable, the process was killed). Such an upload holds
// its parts' space, billed, until a lifecycle rule or this removes it. An
// open multipart upload of a backup is a leftover when
//   - its backup is the one being uploaded now (uploading, by this call,
//     which has not started any): it is from an earlier attempt at the ID;
//   - its backup is complete: the manifest goes up after every file;
//   - it was started more than staleAfter ago, the age past which prune
//     takes an incomplete backup for a failed one too.
//
// Open uploads of other backups are left alone, since another upload to the
// same location may be running: two backups of one deployment overlap when
// one runs long or someone uploads by hand. Keys that are not of a backup
// (no backup ID as their first folder) are never touched.
//
// AWS S3 and versitygw list the open uploads under a prefix; MinIO lists
// only those of one exact key (and drops stale ones itself after a day), so
// the keys of the upload's own large files, keys, are asked for one by one.
// It returns how many it aborted; an error is for the caller to log, the
// next run tries again.
func (s *Store) abortLeftovers(ctx context.Context, uploading string, keys []string, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	var open []minio.ObjectMultipartInfo
	seen := map[string]bool{}
	list := func(prefix string, pages int) error {
		var keyMarker, idMarker string
		for range pages {
			page, err := s.core().ListMultipartUploads(ctx, s.loc.Bucket, prefix, keyMarker, idMarker, "", 1000)
			if err != nil {
				return s.explainUpload(err)
			}
			for _, u := range page.Uploads {
				if !seen[u.UploadID] && strings.HasPrefix(u.Key, prefix) {
					seen[u.UploadID] = true
					open = append(open, u)
				}
			}
			if !page.IsTruncated || (page.NextKeyMarker == keyMarker && page.NextUploadIDMarker == idMarker) {
				return nil
			}
			keyMarker, idMarker = page.NextKeyMarker, page.NextUploadIDMarker
		}
		return nil
	}
	if err := list(s.loc.folder(), maxListPages); err != nil {
		return 0, err
	}
	for _, key := range keys {
		if err := list(key, 1); err != nil {
			return 0, err
		}
	}

	complete := map[string]bool{}
	isComplete := func(id string) bool {
		done, ok := complete[id]
		if !ok {
			_, err := s.client.StatObject(ctx, s.loc.Bucket, s.loc.key(id, ManifestName), minio.StatObjectOptions{})
			done = err == nil
			complete[id] = done
		}
		return done
	}
	aborted := 0
	for _, u := range open {
		id, _, ok := strings.Cut(strings.TrimPrefix(u.Key, s.loc.folder()), "/")
		if !ok {
			continue
		}
		if _, err := ParseID(id); err != nil {
			continue
		}
		if id == uploading || now.Sub(u.Initiated) > staleAfter || isComplete(id) {
			if err := s.core().AbortMultipartUpload(ctx, s.loc.Bucket, u.Key, u.UploadID); err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
				return aborted, s.explainUpload(err)
			}
			aborted++
		}
	}
	return aborted, nil
}

// maxListPages bounds a listing of open multipart uploads: 100 pages of
// 1000 is more than any location gathers between two runs.
const maxListPages = 100
