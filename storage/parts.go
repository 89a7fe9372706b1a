package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/wait"
)

// partBuffers hold the parts of large files being fetched: at most
// s.parallel at once, kept from file to file for the life of the Store.
// Allocating fresh ones per part costs more in page faults than the
// transfer itself, and a sync.Pool would drop them at every collection.
type partBuffers chan []byte

func (p partBuffers) get(size int64) []byte {
	select {
	case b := <-p:
		if int64(cap(b)) >= size {
			return b[:size]
		}
	default:
	}
	return make([]byte, size)
}

func (p partBuffers) put(b []byte) {
	select {
	case p <- b:
	default: // more than the store keeps; let it go
	}
}

// fetchParts downloads an object of a known size with up to threads range
// requests at once and writes it to w in order, so that w can hash it as a
// stream. At most threads parts are held in memory.
func (s *Store) fetchParts(ctx context.Context, file, key string, size int64, threads int, w io.Writer, progress Progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type part struct {
		buf []byte
		err error
	}
	// pending holds, in order, where each part in flight will arrive; its
	// capacity and the one being written bound the parts in memory.
	pending := make(chan chan part, threads-1)
	go func() {
		defer close(pending)
		for start := int64(0); start < size; start += s.partSize {
			arrived := make(chan part, 1)
			select {
			case pending <- arrived:
			case <-ctx.Done():
				return
			}
			go func(start, end int64) {
				buf := s.partBuffers.get(end - start)
				arrived <- part{buf, s.getRange(ctx, file, key, start, end, size, buf, nil, progress)}
			}(start, min(start+s.partSize, size))
		}
	}()
	for arrived := range pending {
		var p part
		select {
		case p = <-arrived:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.err != nil {
			s.partBuffers.put(p.buf)
			return p.err
		}
		_, err := w.Write(p.buf)
		s.partBuffers.put(p.buf)
		if err != nil {
			return &localError{err}
		}
	}
	return ctx.Err()
}

// fetchPieces downloads a file whose manifest has piece checksums
// (ManifestFile.PartCRC32C) into file: up to threads pieces at once, each
// written where it belongs as it streams in, through one small buffer, and
// checked against its CRC32C once it is all there. Nothing is held in
// memory but those buffers, and nothing waits for another piece.
func (s *Store) fetchPieces(ctx context.Context, f ManifestFile, key string, file io.WriterAt, threads int, progress Progress) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(threads)
	for i, want := range f.PartCRC32C {
		if gctx.Err() != nil {
			break
		}
		start := int64(i) * f.PartSize
		end := min(start+f.PartSize, f.Size)
		g.Go(func() error { return s.fetchPiece(gctx, f, key, file, start, end, want, progress) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// pieceTries is how often a piece that arrives not matching its checksum
// is fetched. Damage on the way (a plain-HTTP endpoint, a faulty proxy)
// differs from try to try; an object damaged in the store never matches.
const pieceTries = 3

// fetchPiece fetches bytes [start, end) of file f into file, until they
// match their CRC32C want or pieceTries tries have not.
func (s *Store) fetchPiece(ctx context.Context, f ManifestFile, key string, file io.WriterAt, start, end int64, want string, progress Progress) error {
	for try := 1; ; try++ {
		w := &crcWriter{w: io.NewOffsetWriter(file, start)}
		if err := s.getRange(ctx, f.Path, key, start, end, f.Size, nil, w, progress); err != nil {
			return err
		}
		got := formatCRC(w.crc)
		if got == want {
			return nil
		}
		if try == pieceTries {
			return &corrupt{fmt.Sprintf("checksum mismatch in bytes %d to %d: the manifest says CRC32C %s, the store has %s (%s); the object was changed or damaged after upload",
				start, end, want, got, times(pieceTries))}
		}
		progress.Transferred(start - end) // they move again
		if r, ok := progress.(RetryProgress); ok {
			r.Retrying(f.Path, fmt.Sprintf("bytes %d to %d arrived damaged (CRC32C %s, not %s), fetching them again", start, end, got, want))
		}
	}
}

// crcWriter passes bytes on to w, taking their CRC32C.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crc32c, p[:n])
	return n, err
}

// getRange fetches bytes [start, end) of file, stored as key with size
// bytes in all, into buf (end-start long) or, when buf is nil, to w in
// order. A request that breaks off (a reset, a silent server, a restart, a
// server error) is tried again from the byte it reached, after a backoff.
// It gives up after s.retries failures in a row that moved nothing, or
// when nothing at all arrived for s.stall, whichever comes first.
func (s *Store) getRange(ctx context.Context, file, key string, start, end, size int64, buf []byte, w io.Writer, progress Progress) error {
	ctx, idle := watchStalls(ctx, s.stall, errNoProgress)
	defer idle.stop()
	pos := start
	var retries, inARow int
	var last error // of the last request that failed on its own, not by the watch
	backoff := retryBackoff()
	for {
		var into []byte
		if buf != nil {
			into = buf[pos-start:]
		}
		n, err := s.getOnce(ctx, key, pos, end, size, into, w, idle, progress)
		pos += n
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || errors.Is(err, errAttemptStalled) {
			last = err
		}
		switch {
		case idle.fired(ctx):
			return s.gaveUp(last, pos, size, retries, true)
		case ctx.Err() != nil:
			return ctx.Err()
		case !retryable(err):
			return err
		}
		if n > 0 {
			inARow, backoff = 0, retryBackoff()
		}
		if inARow++; inARow > s.retries || retries >= 4*s.retries {
			return s.gaveUp(err, pos, size, retries, false)
		}
		retries++
		if r, ok := progress.(RetryProgress); ok {
			what, _ := s.failure(err)
			r.Retrying(file, fmt.Sprintf("%s at byte %d of %d", what, pos, size))
		}
		wait := time.NewTimer(backoff.Step())
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
		}
	}
}

// retryBackoff is the wait before each retry of a request that moved
// nothing: from a fifth of a second, doubling, to at most 5 s, so that ten
// retries span about 30 s, what a store takes to restart.
func retryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 5 * time.Second}
}

// getOnce is one request of getRange for bytes [pos, end). It returns how
// many bytes it moved, also when it fails.
func (s *Store) getOnce(ctx context.Context, key string, pos, end, size int64, into []byte, w io.Writer, idle *stallWatch, progress Progress) (int64, error) {
	ctx, attempt := watchStalls(ctx, s.stall/2, errAttemptStalled)
	defer attempt.stop()
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(pos, end-1); err != nil {
		return 0, err
	}
	body, _, header, err := s.data.GetObject(ctx, s.loc.Bucket, key, opts)
	if err != nil {
		if s3Error(err).Code == "InvalidRange" {
			return 0, &corrupt{fmt.Sprintf("size mismatch: the manifest says %d bytes, the store has at most %d", size, pos)}
		}
		if attempt.fired(ctx) {
			return 0, errAttemptStalled
		}
		return 0, err
	}
	defer body.Close()
	if err := checkLength(header, pos, size); err != nil {
		return 0, err
	}
	var scratch []byte
	if into == nil {
		b := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(b)
		scratch = *b
	}
	want := end - pos
	// got is what reached into or w; filled is what sits in scratch on
	// its way to w, which gets whole buffers: a write per read of the
	// socket would be a system call per few kilobytes.
	var got, filled int64
	flush := func() error {
		if filled == 0 {
			return nil
		}
		if _, err := w.Write(scratch[:filled]); err != nil {
			return &localError{err}
		}
		got, filled = got+filled, 0
		return nil
	}
	for got+filled < want {
		var p []byte
		if into != nil {
			p = into[got:]
		} else {
			p = scratch[filled:min(int64(len(scratch)), want-got)]
		}
		n, err := body.Read(p)
		if n > 0 {
			idle.kick()
			attempt.kick()
			progress.Transferred(int64(n))
			if into != nil {
				got += int64(n)
			} else {
				filled += int64(n)
			}
		}
		if into == nil && (err != nil || got+filled == want || filled == int64(len(scratch))) {
			if err := flush(); err != nil {
				return got, err
			}
		}
		switch {
		case err == io.EOF && got < want:
			// A body that ends cleanly short is the object; one cut off is
			// io.ErrUnexpectedEOF and retried.
			return got, &corrupt{fmt.Sprintf("size mismatch: the manifest says %d bytes, the store has %d", size, pos+got)}
		case err == io.EOF:
		case err != nil && attempt.fired(ctx):
			return got, errAttemptStalled
		case err != nil:
			return got, err
		}
	}
	return got, nil
}

// checkLength compares the object's size in a response to the manifest's,
// so that an object longer than the manifest says is caught too.
func checkLength(header http.Header, pos, size int64) error {
	total := int64(-1)
	if cr := header.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 && cr[i+1:] != "*" {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				total = n
			}
		}
	} else if pos > 0 {
		return errors.New("the store answered a range request with the whole object; fetch needs range requests (HTTP Range)")
	} else if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil {
		total = n
	}
	if total >= 0 && total != size {
		return &corrupt{fmt.Sprintf("size mismatch: the manifest says %d bytes, the store has %d", size, total)}
	}
	return nil
}

// failure is what went wrong with a request, after which a byte position
// fits, and what to do about it.
func (s *Store) failure(err error) (what, todo string) {
	if what, todo := serverTrouble(s3Error(err)); what != "" {
		return s.endpoint + " " + what, todo
	}
	switch {
	case errors.Is(err, errAttemptStalled):
		return fmt.Sprintf("%s went silent for %s", s.endpoint, s.stall/2), "check the network to the store, or raise --timeout"
	case refused(err):
		return fmt.Sprintf("cannot reach the object store at %s (connection refused)", s.endpoint), "check --endpoint and that the store is up, then fetch again"
	}
	return fmt.Sprintf("the connection to %s dropped", s.endpoint), "check the network to the store and fetch again"
}

// gaveUp is the one line a fetch of a range ends with when retries did not
// get it through.
func (s *Store) gaveUp(last error, pos, size int64, retries int, stalled bool) error {
	what, todo := "", ""
	if last != nil {
		what, todo = s.failure(last)
	}
	if stalled {
		// Say what the last attempt met, if anything: a
		// store that refuses or answers 503 throughout is no silent one.
		cause := ""
		switch {
		case refused(last):
			cause = " (connection refused)"
		case last != nil && !errors.Is(last, errAttemptStalled):
			cause = " (the last attempt: " + strings.TrimPrefix(what, s.endpoint+" ") + ")"
		}
		what = fmt.Sprintf("no data from %s for %s%s", s.endpoint, s.stall, cause)
		todo = "check the network to the store and that it is up, or raise --timeout"
	}
	return &storeError{msg: fmt.Sprintf("%s at byte %d of %d; it was retried %s; %s", what, pos, size, times(retries), todo), err: last}
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
