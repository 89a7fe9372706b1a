package storage

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStallTimeout is how long a transfer may move no byte before it
// fails (Config.StallTimeout, --timeout). A minute outlasts a restart of
// the store or a rolling update of a load balancer, and is short enough
// that a silent server does not hold a pod in its init container for long.
const DefaultStallTimeout = time.Minute

// Causes of a context that a stallWatch cancelled; context.Cause tells them
// from a cancellation by the caller.
var (
	// errNoProgress: the transfer as a whole moved no byte for the stall
	// timeout, across all its retries. It fails.
	errNoProgress = errors.New("no data moved")
	// errAttemptStalled: one request went silent for half the stall
	// timeout. It is dropped and retried from the byte it reached.
	errAttemptStalled = errors.New("the request went silent")
)

// stallWatch cancels a context once kick has not been called for a while.
// It is the one rule for silent servers in both directions: fetch kicks it
// for every byte that arrives, upload for every byte it hands to the
// connection, and whatever is waiting (dialling, headers, a body, a retry's
// backoff) ends when the watch fires. A time.Timer per byte would cost more
// than the bytes, so kick only records the time and the timer, when it
// fires, re-arms itself for what is left.
type stallWatch struct {
	after  time.Duration
	cause  error
	cancel context.CancelCauseFunc
	last   atomic.Int64 // time.Now().UnixNano() of the last kick
	went   atomic.Bool  // it fired

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// watchStalls returns a context that is cancelled with cause once after
// passes without a kick, and the watch that kicks and stops it. Stop it
// when the transfer is over; that cancels the context too.
//
// Upload uses it as fetch does:
//
//	ctx, watch := watchStalls(ctx, s.stall, errNoProgress)
//	defer watch.stop()
//	body := watch.readSeeker(file) // kicks on every Read
//	_, err := s.client.PutObject(ctx, …, body, …)
//	if watch.fired(ctx) { /* one line: s.stalledMessage(…) */ }
func watchStalls(ctx context.Context, after time.Duration, cause error) (context.Context, *stallWatch) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stallWatch{after: after, cause: cause, cancel: cancel}
	w.kick()
	w.mu.Lock()
	w.timer = time.AfterFunc(after, w.check)
	w.mu.Unlock()
	return ctx, w
}

// kick says the transfer moved.
func (w *stallWatch) kick() { w.last.Store(time.Now().UnixNano()) }

// idle is how long ago the transfer last moved.
func (w *stallWatch) idle() time.Duration { return time.Since(time.Unix(0, w.last.Load())) }

func (w *stallWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if idle := w.idle(); idle < w.after {
		w.timer.Reset(w.after - idle)
		return
	}
	w.went.Store(true)
	w.cancel(w.cause)
}

// hasFired tells whether the watch fired, whatever context asks.
func (w *stallWatch) hasFired() bool { return w.went.Load() }

// stop ends the watch and cancels its context.
func (w *stallWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// fired tells whether ctx, from watchStalls, ended because of this watch.
func (w *stallWatch) fired(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), w.cause)
}

// reader kicks the watch for every byte read through it.
func (w *stallWatch) reader(r io.Reader) io.Reader { return &kickReader{r: r, watch: w} }

// readSeeker is reader for a body that minio-go rewinds before a retry.
func (w *stallWatch) readSeeker(r io.ReadSeeker) io.ReadSeeker {
	return &kickReadSeeker{kickReader: kickReader{r: r, watch: w}, s: r}
}

type kickReader struct {
	r     io.Reader
	watch *stallWatch
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.watch.kick()
	}
	return n, err
}

type kickReadSeeker struct {
	kickReader
	s io.Seeker
}

func (k *kickReadSeeker) Seek(offset int64, whence int) (int64, error) {
	return k.s.Seek(offset, whence)
}
