package storage

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"strings"
)

// partChecksum is how the store is told what a part or a small object
// holds, so that it refuses bytes that changed on the way (see
// Store.checksumKind for which stores take which).
type partChecksum int

const (
	// checksumCRC32C sends x-amz-checksum-crc32c, which AWS S3, MinIO and
	// versitygw check; parts of a multipart upload carry it too, in an
	// upload created with that algorithm (a composite checksum). CRC32C
	// runs in hardware, at a small fraction of SHA-256's cost, and detects
	// every burst of up to 32 flipped bits.
	checksumCRC32C partChecksum = iota + 1
	// checksumMD5 sends Content-MD5, which every S3 store has checked since
	// S3 began, and compares the ETag the store answers with when it is an
	// MD5 (it is for unencrypted objects and parts on AWS and MinIO), in
	// case a store ignores the header.
	checksumMD5
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// partCRC is a part's CRC32C as the manifest holds it (ManifestFile.PartCRC32C).
func partCRC(b []byte) string { return formatCRC(crc32.Checksum(b, crc32c)) }

func formatCRC(c uint32) string { return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, c)) }

// sum is the checksum of b, as raw bytes.
func (k partChecksum) sum(b []byte) []byte {
	if k == checksumMD5 {
		s := md5.Sum(b)
		return s[:]
	}
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32c))
}

// etagDiffers tells whether the store's ETag shows that it stored other
// bytes than those summed: only an ETag that is an MD5 says anything.
func (k partChecksum) etagDiffers(etag string, sum []byte) bool {
	if k != checksumMD5 || len(etag) != 32 {
		return false
	}
	if _, err := hex.DecodeString(etag); err != nil {
		return false
	}
	return !strings.EqualFold(etag, hex.EncodeToString(sum))
}

func (k partChecksum) String() string {
	if k == checksumMD5 {
		return "Content-MD5"
	}
	return "CRC32C"
}

// sendReader is a part being sent: it reports progress as bytes go out, and
// takes them back when minio-go rewinds it to retry a request. It kicks the
// stall watch only for bytes beyond the most any try of the part has sent
// (high): a store that takes each try and then falls silent makes no
// progress, however often the part goes again.
type sendReader struct {
	*bytes.Reader
	progress Progress
	watch    *stallWatch // nil: none
	high     *int64
	pos      int64
}

func newSendReader(b []byte, progress Progress, watch *stallWatch, high *int64) *sendReader {
	return &sendReader{Reader: bytes.NewReader(b), progress: progress, watch: watch, high: high}
}

func (r *sendReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if n > 0 {
		r.pos += int64(n)
		r.progress.Transferred(int64(n))
		if r.watch != nil && r.pos > *r.high {
			*r.high = r.pos
			r.watch.kick()
		}
	}
	return n, err
}

func (r *sendReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := r.Reader.Seek(offset, whence)
	if err == nil {
		r.progress.Transferred(pos - r.pos)
		r.pos = pos
	}
	return pos, err
}

// unsent takes back what was reported of a send that failed.
func (r *sendReader) unsent() {
	r.progress.Transferred(-r.pos)
	r.pos = 0
}

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
