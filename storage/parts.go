package storage

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
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
func (s *Store) fetchParts(ctx context.Context, key string, size int64, threads int, w io.Writer) error {
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
				arrived <- part{buf, s.fetchRange(ctx, key, start, end, buf)}
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
			return err
		}
	}
	return ctx.Err()
}

// fetchRange reads bytes [start, end) of an object into buf.
func (s *Store) fetchRange(ctx context.Context, key string, start, end int64, buf []byte) error {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(start, end-1); err != nil {
		return err
	}
	obj, err := s.client.GetObject(ctx, s.loc.Bucket, key, opts)
	if err != nil {
		return err
	}
	defer obj.Close()
	n, err := io.ReadFull(obj, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("size mismatch: the store has %d bytes, the manifest says more", start+int64(n))
	}
	return err
}
