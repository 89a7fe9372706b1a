package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/term"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

// transferProgress shows how an upload or fetch goes on stderr: a bar
// redrawn in place on a terminal, a plain line every few seconds in logs.
type transferProgress struct {
	w        io.Writer
	terminal bool
	verb     string // "uploading", "fetching"

	start      time.Time
	files      atomic.Int64
	filesDone  atomic.Int64
	total      atomic.Int64
	done       atomic.Int64
	retry      atomic.Pointer[retryNote] // the latest, shown while it is recent
	stop, gone chan struct{}
	once       sync.Once
}

var _ storage.RetryProgress = (*transferProgress)(nil)

// retryNote is a request that failed and is being tried again.
type retryNote struct {
	at  time.Time
	why string
}

// retryShown is how long a retry stays in the progress line: long enough
// for one log line, short enough that a transfer that recovered says so.
const retryShown = logEvery

const (
	terminalEvery = 200 * time.Millisecond
	logEvery      = 5 * time.Second
)

func newTransferProgress(stderr io.Writer, verb string) *transferProgress {
	p := &transferProgress{w: stderr, terminal: isTerminal(stderr), verb: verb, start: time.Now(),
		stop: make(chan struct{}), gone: make(chan struct{})}
	every := logEvery
	if p.terminal {
		every = terminalEvery
	}
	go p.report(every)
	return p
}

func (p *transferProgress) Begin(files int, bytes int64) {
	p.files.Store(int64(files))
	p.total.Store(bytes)
}
func (p *transferProgress) Transferred(n int64) { p.done.Add(n) }
func (p *transferProgress) FileDone(string)     { p.filesDone.Add(1) }
func (p *transferProgress) Retrying(file, why string) {
	p.retry.Store(&retryNote{at: time.Now(), why: file + ": " + why})
}

func (p *transferProgress) report(every time.Duration) {
	defer close(p.gone)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			if p.terminal {
				fmt.Fprintf(p.w, "\r%s\033[K", p.line(true))
			} else {
				fmt.Fprintln(p.w, p.line(false))
			}
		}
	}
}

// finish stops the reports; after a success it says what moved and how fast.
func (p *transferProgress) finish(ok bool) {
	p.once.Do(func() {
		close(p.stop)
		<-p.gone
		if p.terminal {
			fmt.Fprint(p.w, "\r\033[K")
		}
		if ok {
			elapsed := time.Since(p.start)
			fmt.Fprintf(p.w, "%s %s in %s in %s (%s/s)\n", strings.TrimSuffix(p.verb, "ing")+"ed",
				size(p.total.Load()), files(p.files.Load()), elapsed.Round(100*time.Millisecond), size(rate(p.total.Load(), elapsed)))
		}
	})
}

func (p *transferProgress) line(bar bool) string {
	done, total := p.done.Load(), p.total.Load()
	pct := 0.0
	if total > 0 {
		pct = float64(min(done, total)) / float64(total)
	}
	counts := fmt.Sprintf("%3.0f%% %s of %s, %d of %d files, %s/s", 100*pct, size(done), size(total),
		p.filesDone.Load(), p.files.Load(), size(rate(done, time.Since(p.start))))
	if r := p.retry.Load(); r != nil && time.Since(r.at) < retryShown {
		counts += "; retrying " + r.why
	}
	if !bar {
		return p.verb + ": " + counts
	}
	const width = 24
	filled := int(pct * width)
	return fmt.Sprintf("%s [%s%s] %s", p.verb, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), counts)
}

func files(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

func rate(bytes int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(bytes) / d.Seconds())
}

// size is bytes in binary units: 512 B, 3.4 MiB, 1.0 GiB, 34 GiB.
func size(n int64) string {
	return humanize.IBytes(uint64(max(n, 0)))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
