package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
)

// hashingReader computes SHA-256 of a file as it is read for upload, so the
// file is read once. Seeking back to the start, which minio-go does before
// retrying a request, starts the hash over.
type hashingReader struct {
	file     io.ReadSeeker
	hash     hash.Hash
	read     int64
	progress Progress
}

func newHashingReader(file io.ReadSeeker, progress Progress) *hashingReader {
	return &hashingReader{file: file, hash: sha256.New(), progress: progress}
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.file.Read(p)
	if n > 0 {
		r.hash.Write(p[:n])
		r.read += int64(n)
		r.progress.Transferred(int64(n))
	}
	return n, err
}

// Seek supports only rewinding to the start.
func (r *hashingReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("upload can only rewind a file to its start")
	}
	if r.read == 0 {
		return 0, nil
	}
	if _, err := r.file.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r.progress.Transferred(-r.read)
	r.hash.Reset()
	r.read = 0
	return 0, nil
}

func (r *hashingReader) sum() string { return hex.EncodeToString(r.hash.Sum(nil)) }

// hashingWriter computes SHA-256 of a file as it is written by fetch.
type hashingWriter struct {
	file     io.Writer
	hash     hash.Hash
	written  int64
	progress Progress
}

func newHashingWriter(file io.Writer, progress Progress) *hashingWriter {
	return &hashingWriter{file: file, hash: sha256.New(), progress: progress}
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	var n int
	var err error
	if len(p) < overlapAbove {
		n, err = w.file.Write(p)
		w.hash.Write(p[:n])
	} else {
		// Hash while the kernel copies the same bytes into the page cache:
		// each costs about as much as the other.
		hashed := make(chan struct{})
		go func() { w.hash.Write(p); close(hashed) }()
		for n < len(p) && err == nil {
			var m int
			m, err = w.file.Write(p[n:min(n+writeChunk, len(p))])
			n += m
		}
		<-hashed // on a failed write the hash is wrong, but the fetch fails anyway
	}
	w.written += int64(n)
	w.progress.Transferred(int64(n))
	return n, err
}

// overlapAbove is the write size from which hashing runs beside writing.
const overlapAbove = 4 << 20

// writeChunk is the most written to a file in one call. Writes of whole
// 16 MiB parts measured slower and less steady in the kernel than 1 MiB ones.
const writeChunk = 1 << 20

func (w *hashingWriter) sum() string { return hex.EncodeToString(w.hash.Sum(nil)) }
