package s3test

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// FaultProxy is an HTTP reverse proxy in front of a real S3 Server that
// injects faults into chosen requests. It forwards every request as it came,
// Host header included, so the client's signature still holds.
type FaultProxy struct {
	srv       *httptest.Server
	target    *url.URL
	transport *http.Transport
	closing   chan struct{} // closed at test end: stalled answers give up

	mu       sync.Mutex
	faults   []*activeFault
	requests []string
}

// Fault says which requests to break and how. Exactly one fault applies to
// a request: the first one added that matches it and has hits left.
type Fault struct {
	// Match picks the requests (nil: all); see IsPartUpload, IsPut,
	// IsRangedGet, IsGet, KeyContains.
	Match func(r *http.Request) bool
	// Times is how many matching requests it hits; 0: every one.
	Times int
	// Status > 0: answer with this status and an S3 error body with Code
	// instead of forwarding. The request body is read first, so the client
	// sees a clean answer rather than a broken pipe.
	Status int
	// Code is the S3 error code of that body: "SlowDown", "InternalError",
	// "ServiceUnavailable", "BadDigest"…; empty: "InternalError".
	Code string
	// FlipRequestBit, when set (FlipRequestAt), is the offset of the request
	// body byte whose lowest bit is flipped before it is forwarded. A body
	// shorter than that is forwarded unchanged (the hit still counts).
	FlipRequestBit *int64
	// FlipResponseBit is the same for the response body (FlipResponseAt).
	FlipResponseBit *int64
	// ResetAfter > 0: after this many response-body bytes, close the client
	// connection at once (TCP RST).
	ResetAfter int64
	// StallAfter > 0: after this many response-body bytes, send nothing
	// more until the client gives up (closes the connection) or the test ends.
	StallAfter int64
	// Silent: take the whole request, forward nothing and answer nothing
	// until the client gives up or the test ends (a hung server).
	Silent bool
	// StallRequestAfter > 0: read this many request-body bytes, then read
	// no more and answer nothing until the test ends (a server that stopped
	// reading: the client's writes block once the socket buffers are full).
	StallRequestAfter int64
}

// FlipRequestAt is a Fault that flips the lowest bit of request body byte n.
func FlipRequestAt(n int64) Fault { return Fault{FlipRequestBit: &n} }

// FlipResponseAt is a Fault that flips the lowest bit of response body byte n.
func FlipResponseAt(n int64) Fault { return Fault{FlipResponseBit: &n} }

// Offset is a pointer to n, for Fault's FlipRequestBit and FlipResponseBit
// in a composite literal.
func Offset(n int64) *int64 { return &n }

// IsPartUpload matches the upload of one part of a multipart upload.
func IsPartUpload(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
}

// IsPut matches every PUT: single-request objects, parts, bucket changes.
func IsPut(r *http.Request) bool { return r.Method == http.MethodPut }

// IsSinglePut matches a PUT of a whole object (not a part, not a copy).
func IsSinglePut(r *http.Request) bool {
	return r.Method == http.MethodPut && !IsPartUpload(r) && r.Header.Get("X-Amz-Copy-Source") == "" &&
		strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
}

// IsRangedGet matches a GET of part of an object.
func IsRangedGet(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Range") != ""
}

// IsGet matches every GET, listings included.
func IsGet(r *http.Request) bool { return r.Method == http.MethodGet }

// KeyContains matches requests whose path (/bucket/key) contains s.
func KeyContains(s string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, s) }
}

// All matches requests that every one of match matches.
func All(match ...func(r *http.Request) bool) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		for _, m := range match {
			if m != nil && !m(r) {
				return false
			}
		}
		return true
	}
}

type activeFault struct {
	Fault
	hits int
}

// NewFaultProxy starts a proxy on 127.0.0.1 in front of target; it is
// closed when the test ends.
func NewFaultProxy(t testing.TB, target *Server) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{
		target:  u,
		closing: make(chan struct{}),
		transport: &http.Transport{
			Proxy:               nil, // 127.0.0.1 only, whatever HTTP_PROXY says
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.closing)
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
	return p
}

// Endpoint is the proxy's URL, to give the Store instead of target.Endpoint.
func (p *FaultProxy) Endpoint() string { return p.srv.URL }

// Add appends a fault; faults apply in the order added.
func (p *FaultProxy) Add(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &activeFault{Fault: f})
}

// Requests lists "METHOD /bucket/key?query" of every request seen, in
// order; the path is unescaped (2021-11-11T10:00:00Z, not %3A), the query as sent.
func (p *FaultProxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Hits is how many requests fault number i (in the order added) has hit.
func (p *FaultProxy) Hits(i int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[i].hits
}

// pick records the request and takes a hit of the first fault that applies.
func (p *FaultProxy) pick(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		seen += "?" + r.URL.RawQuery
	}
	p.requests = append(p.requests, seen)
	for _, f := range p.faults {
		if (f.Times == 0 || f.hits < f.Times) && (f.Match == nil || f.Match(r)) {
			f.hits++
			fault := f.Fault
			return &fault
		}
	}
	return nil
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.pick(r)
	if f == nil {
		f = &Fault{}
	}
	if f.Status > 0 {
		io.Copy(io.Discard, r.Body)
		code := f.Code
		if code == "" {
			code = "InternalError"
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", "faultproxy")
		w.WriteHeader(f.Status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>%s</Code><Message>injected by the fault proxy</Message><Resource>%s</Resource><RequestId>faultproxy</RequestId></Error>`,
				html.EscapeString(code), html.EscapeString(r.URL.Path))
		}
		return
	}

	if f.Silent {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		p.reset(w)
		return
	}
	if f.StallRequestAfter > 0 {
		io.CopyN(io.Discard, r.Body, f.StallRequestAfter)
		// The server notices no hang-up while the body is unread, so this
		// waits for the test's end.
		<-p.closing
		p.reset(w)
		return
	}

	var body io.Reader = r.Body
	if r.ContentLength == 0 {
		body = nil
	} else if f.FlipRequestBit != nil {
		body = &flipReader{r: r.Body, at: *f.FlipRequestBit}
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		out.Header[k] = v
	}
	out.Header.Del("Expect")
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	if r.ContentLength < 0 {
		out.TransferEncoding = []string{"chunked"}
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		// The server is down or the client went away: the client sees what
		// it would see without the proxy, a broken connection.
		p.reset(w)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)

	var src io.Reader = resp.Body
	if f.FlipResponseBit != nil {
		src = &flipReader{r: src, at: *f.FlipResponseBit}
	}
	switch {
	case f.ResetAfter > 0:
		p.copyFlushed(w, io.LimitReader(src, f.ResetAfter))
		p.reset(w)
	case f.StallAfter > 0:
		p.copyFlushed(w, io.LimitReader(src, f.StallAfter))
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		p.reset(w)
	default:
		io.Copy(w, src)
	}
}

// copyFlushed copies src to the client, flushing every write, so the client
// has every byte before the connection is broken.
func (p *FaultProxy) copyFlushed(w http.ResponseWriter, src io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// reset closes the client's connection with a TCP RST, as a crashing
// server or a middlebox would.
func (p *FaultProxy) reset(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}

// flipReader flips the lowest bit of byte at of the stream.
type flipReader struct {
	r    io.Reader
	at   int64
	read int64
}

func (f *flipReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if f.at >= f.read && f.at < f.read+int64(n) {
		b[f.at-f.read] ^= 1
	}
	f.read += int64(n)
	return n, err
}

// Close lets a flipReader stand in for a request body.
func (f *flipReader) Close() error {
	if c, ok := f.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
