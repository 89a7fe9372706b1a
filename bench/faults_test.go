//go:build bench

// The fault matrix: the built neo4j-backup binary uploads and fetches a
// backup while the network or the store breaks, RUNS times per fault and
// direction, and every run is judged by its result on disk and in the store,
// not by what the binary says. bench/faults.sh builds what it needs and runs
// it; the build tag keeps it out of make test.
//
// Faults come from two proxies between the binary and a MinIO of the
// matrix's own: toxiproxy (TCP: resets, stalls, and a bandwidth limit so
// that a transfer lasts long enough to be hit in the middle) and s3test's
// FaultProxy (HTTP: one flipped bit, 503 answers).
package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

const (
	bigFile    = "neostore" // 64 MiB: four parts of 16 MiB
	bigSize    = 64 << 20
	smallFiles = 50
	smallFile  = "small-07" // the small file the small-file faults hit

	// runLimit bounds one transfer; a binary still running then is killed
	// and the run is bad (it hung).
	runLimit = 4 * time.Minute
	// rateKB is toxiproxy's bandwidth limit per connection and direction,
	// in KB/s, so that a transfer lasts several seconds (a 16 MiB part
	// takes 8) and a fault injected after injectAfter lands in the middle.
	// Byte counts cannot trigger it: fetch holds a part in memory until it
	// is whole, and toxiproxy counts a connection's bytes when it closes.
	rateKB      = 2048
	injectAfter = 2 * time.Second
	// noProgress is the --timeout given to a binary that has the flag.
	noProgress = "10s"
)

type direction string

const (
	up    direction = "upload"
	fetch direction = "fetch"
)

// fault is one row pair of the matrix.
type fault struct {
	name string
	// proxy, when set, gives the FaultProxy faults of a run (the run then
	// goes through the FaultProxy instead of toxiproxy).
	proxy func(d direction) []s3test.Fault
	// network is set for faults that damage no bytes: a failure that
	// blames the backup's bytes for them misleads.
	network bool
	// inject, when set, breaks a run through toxiproxy injectAfter into it;
	// it returns when the fault is over or done is closed.
	inject func(m *matrix, g *group, done <-chan struct{})
}

// objectOf matches requests for one file of the backup.
func objectOf(name string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/"+name) }
}

func faults() []fault {
	isPutOf := func(name string) func(r *http.Request) bool {
		return s3test.All(s3test.IsPut, objectOf(name))
	}
	isGetOf := func(name string) func(r *http.Request) bool {
		return s3test.All(s3test.IsGet, objectOf(name))
	}
	unavailable := func(times int) func(d direction) []s3test.Fault {
		return func(d direction) []s3test.Fault {
			match := s3test.All(s3test.IsPartUpload, objectOf(bigFile))
			if d == fetch {
				match = isGetOf(bigFile)
			}
			return []s3test.Fault{{Match: match, Times: times, Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}}
		}
	}
	return []fault{
		// The control: how long a transfer through toxiproxy's bandwidth
		// limit takes when nothing breaks.
		{name: "none (throttled)", inject: func(*matrix, *group, <-chan struct{}) {}},
		{name: "bit flip in a part", proxy: func(d direction) []s3test.Fault {
			f := s3test.FlipRequestAt(5 << 20)
			f.Match = s3test.All(s3test.IsPartUpload, objectOf(bigFile))
			if d == fetch {
				f = s3test.FlipResponseAt(5 << 20)
				f.Match = isGetOf(bigFile)
			}
			f.Times = 1
			return []s3test.Fault{f}
		}},
		{name: "bit flip in a small file", proxy: func(d direction) []s3test.Fault {
			f := s3test.FlipRequestAt(100)
			f.Match = isPutOf(smallFile)
			if d == fetch {
				f = s3test.FlipResponseAt(100)
				f.Match = isGetOf(smallFile)
			}
			f.Times = 1
			return []s3test.Fault{f}
		}},
		{name: "reset mid-transfer", network: true, inject: func(m *matrix, g *group, done <-chan struct{}) {
			// Every connection is reset at its next byte for a second.
			m.toxics(g, "reset_peer", map[string]any{"timeout": 0}, time.Second, done)
		}},
		{name: "stall 30 s", network: true, inject: func(m *matrix, g *group, done <-chan struct{}) {
			// Nothing gets through for 30 s (toxiproxy drops what is sent);
			// then the connections close, as a silent server's would.
			m.toxics(g, "timeout", map[string]any{"timeout": 30000}, 30*time.Second, done)
		}},
		{name: "MinIO restart 2 s", network: true, inject: func(m *matrix, g *group, done <-chan struct{}) {
			// Connections break, new ones are refused, for 2 s and MinIO's
			// start.
			g.server.Kill()
			m.toxiproxy(http.MethodPost, "/proxies/"+g.proxyName, map[string]any{"enabled": false})
			select {
			case <-time.After(2 * time.Second):
			case <-done:
			}
			g.server.Start()
			m.toxiproxy(http.MethodPost, "/proxies/"+g.proxyName, map[string]any{"enabled": true})
		}},
		{name: "503 on 3 calls", network: true, proxy: unavailable(3)},
		{name: "503 on every call", network: true, proxy: unavailable(0)},
	}
}

// matrix is the state of the whole run.
type matrix struct {
	t          *testing.T
	binary     string
	hasTimeout map[direction]bool
	toxiURL    string
	home       string            // the binary's HOME, so that no one's AWS config is read
	source     string            // the backup folder
	sums       map[string]string // its files' SHA-256, by slash path
	rows       []row
}

// group is one fault and direction: its own MinIO and toxiproxy proxy.
type group struct {
	fault     fault
	dir       direction
	server    *s3test.Server
	proxyName string
	proxyAddr string
}

// row is a group's results.
type row struct {
	fault, dir                 string
	runs, finished, clean, bad int
	missed, leftovers          int
	times                      []time.Duration
	messages                   map[string]int // failure lines and why runs were bad
}

type outcome int

const (
	finished outcome = iota
	failedCleanly
	bad
)

func TestFaults(t *testing.T) {
	m := &matrix{t: t, binary: os.Getenv("NEO4J_BACKUP_BIN"), hasTimeout: map[direction]bool{}}
	if m.binary == "" {
		t.Fatal("set NEO4J_BACKUP_BIN to the neo4j-backup binary to test (bench/faults.sh does)")
	}
	runs := 5
	if s := os.Getenv("RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("RUNS=%s: give a count of at least 1", s)
		}
		runs = n
	}
	only := strings.Fields(os.Getenv("FAULTS")) // words any of which a fault's name must contain
	for _, d := range []direction{up, fetch} {
		out, _ := exec.Command(m.binary, string(d), "--help").CombinedOutput()
		m.hasTimeout[d] = bytes.Contains(out, []byte("--timeout"))
	}
	m.home = t.TempDir()
	m.startToxiproxy()
	m.writeSource()

	for _, f := range faults() {
		if len(only) > 0 && !slices.ContainsFunc(only, func(w string) bool { return strings.Contains(f.name, w) }) {
			continue
		}
		for _, d := range []direction{up, fetch} {
			t.Run(f.name+"/"+string(d), func(t *testing.T) { m.runGroup(t, f, d, runs) })
		}
	}
	m.printTable(runs)
}

func (m *matrix) runGroup(t *testing.T, f fault, d direction, runs int) {
	g := &group{fault: f, dir: d, server: s3test.MinIO(t)}
	g.proxyName = strings.NewReplacer(" ", "-", "/", "-").Replace(t.Name())
	addr, err := controlplane.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g.proxyAddr = addr
	m.toxiproxy(http.MethodPost, "/proxies", map[string]any{
		"name": g.proxyName, "listen": addr, "upstream": strings.TrimPrefix(g.server.Endpoint, "http://"), "enabled": true})
	t.Cleanup(func() { m.toxiproxy(http.MethodDelete, "/proxies/"+g.proxyName, nil) })
	for _, stream := range []string{"upstream", "downstream"} {
		m.toxiproxy(http.MethodPost, "/proxies/"+g.proxyName+"/toxics", map[string]any{
			"name": "bandwidth-" + stream, "type": "bandwidth", "stream": stream, "attributes": map[string]any{"rate": rateKB}})
	}
	if d == fetch {
		// The backup every fetch run fetches, uploaded without faults.
		if res := m.transfer("upload", g.server.Endpoint, "--from", m.source, "--to", g.dest(), "--id", backupID(0)); res.code != 0 {
			t.Fatalf("uploading the backup to fetch: exit %d: %s", res.code, res.stderr)
		}
	}

	r := row{fault: f.name, dir: string(d), messages: map[string]int{}}
	for i := 1; i <= runs; i++ {
		o, took, why, missed, left := m.run(t, g, i)
		r.runs++
		r.times = append(r.times, took)
		switch o {
		case finished:
			r.finished++
		case failedCleanly:
			r.clean++
		case bad:
			r.bad++
		}
		if missed {
			r.missed++
		}
		if left {
			r.leftovers++
		}
		if why != "" {
			r.messages[sameKind(why)]++
		}
		note := ""
		if missed {
			note = " (fault not injected)"
		}
		t.Logf("run %d: %s in %s%s %s", i, [...]string{"finished", "failed cleanly", "BAD"}[o], took.Round(10*time.Millisecond), note, why)
	}
	m.rows = append(m.rows, r)
}

func (g *group) dest() string { return "s3://" + g.server.Bucket + "/" + string(g.dir) }

// backupID is run i's backup ID; 0 is the one fetch runs fetch.
func backupID(i int) string {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
}

// run does run i of a group and judges it: the outcome, how long the binary
// took, why it failed or was bad, whether the fault was never injected
// (the transfer was over first), and whether it left something behind
// (open multipart uploads, hidden folders).
func (m *matrix) run(t *testing.T, g *group, i int) (o outcome, took time.Duration, why string, missed, left bool) {
	endpoint := "http://" + g.proxyAddr
	var fp *s3test.FaultProxy
	if g.fault.proxy != nil {
		fp = s3test.NewFaultProxy(t, g.server)
		for _, f := range g.fault.proxy(g.dir) {
			fp.Add(f)
		}
		endpoint = fp.Endpoint()
	}
	id := backupID(i)
	to := filepath.Join(t.TempDir(), "fetched")
	args := []string{"--from", m.source, "--to", g.dest(), "--id", id}
	if g.dir == fetch {
		if err := os.Mkdir(to, 0o755); err != nil {
			t.Fatal(err)
		}
		args = []string{"--from", g.dest(), "--at", backupID(0), "--to", to}
	}
	if m.hasTimeout[g.dir] {
		args = append(args, "--timeout", noProgress)
	}

	// The binary runs in the background; the fault is injected from here,
	// the test's goroutine, a quarter into the throttled transfer.
	done := make(chan struct{})
	results := make(chan result, 1)
	go func() {
		defer close(done)
		results <- m.transfer(string(g.dir), endpoint, args...)
	}()
	if fp == nil {
		select {
		case <-time.After(injectAfter):
			g.fault.inject(m, g, done)
		case <-done:
			missed = true
		}
	}
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	if fp != nil {
		missed = fp.Hits(0) == 0
	}
	took = res.took

	// Judge by what is there, not by what the binary said.
	if g.dir == up {
		complete := m.listed(t, g, id)
		storedOK, storedWhy := m.storedMatches(t, g, id)
		left = m.openUploads(t, g, id) > 0
		switch {
		case res.code == 0 && complete && storedOK:
			return finished, took, "", missed, left
		case res.code == 0:
			return bad, took, fmt.Sprintf("exit 0 but complete=%v, %s", complete, storedWhy), missed, left
		case complete && !storedOK:
			return bad, took, "a complete backup with wrong bytes: " + storedWhy, missed, left
		case complete:
			return bad, took, "failed but the backup is complete: " + res.failure, missed, left
		}
	} else {
		target := filepath.Join(to, backupID(0))
		entries, _ := os.ReadDir(to)
		for _, e := range entries {
			if e.Name() != backupID(0) {
				left = true
			}
		}
		_, statErr := os.Stat(target)
		switch {
		case res.code == 0:
			if ok, why := m.folderMatches(target); !ok {
				return bad, took, "exit 0 with wrong bytes: " + why, missed, left
			}
			return finished, took, "", missed, left
		case statErr == nil:
			return bad, took, "failed but left the target folder: " + res.failure, missed, left
		}
	}
	if g.fault.network && corruption.MatchString(res.failure) {
		return bad, took, "a network fault read as damaged bytes: " + res.failure, missed, left
	}
	if res.code != 1 || res.unclear != "" {
		return bad, took, fmt.Sprintf("exit %d, %s", res.code, res.unclear), missed, left
	}
	return failedCleanly, took, res.failure, missed, left
}

// toxics adds a toxic of a kind to both directions of the group's proxy
// for d (or until done closes), then removes it.
func (m *matrix) toxics(g *group, kind string, attrs map[string]any, d time.Duration, done <-chan struct{}) {
	for _, stream := range []string{"upstream", "downstream"} {
		m.toxiproxy(http.MethodPost, "/proxies/"+g.proxyName+"/toxics", map[string]any{
			"name": kind + "-" + stream, "type": kind, "stream": stream, "attributes": attrs})
	}
	select {
	case <-time.After(d):
	case <-done:
	}
	for _, stream := range []string{"upstream", "downstream"} {
		m.toxiproxy(http.MethodDelete, "/proxies/"+g.proxyName+"/toxics/"+kind+"-"+stream, nil)
	}
}

// result is what one run of the binary did.
type result struct {
	code    int
	took    time.Duration
	stdout  string
	stderr  string
	failure string // the one line that says what failed
	unclear string // why the failure is not one clear line, if it is not
	err     error  // the binary could not be run
}

// transfer runs the binary's command against endpoint, bounded by runLimit.
// It may run on any goroutine: it reports trouble running it in err.
func (m *matrix) transfer(command, endpoint string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	args = append([]string{command, "--endpoint", endpoint, "--region", s3test.Region}, args...)
	cmd := exec.CommandContext(ctx, m.binary, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true", "HOME="+m.home)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{took: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.code = -1
		res.unclear = fmt.Sprintf("still running after %s, killed", runLimit)
		return res
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		res.err = fmt.Errorf("running %s: %v", m.binary, err)
	}
	if res.code != 0 {
		res.failure, res.unclear = failureLine(command, res.stderr)
	}
	return res
}

// corruption matches failures that say the backup's bytes are wrong.
var corruption = regexp.MustCompile(`(?i)mismatch|damaged|corrupt`)

// objectURL matches a URL with a path, a request's rather than the
// endpoint the user gave.
var objectURL = regexp.MustCompile(`https?://[^\s/]+/[^\s;,)]+`)

// failureLine finds the line that says why the command failed among the
// progress lines, and says why it is unclear if it is: more than one line,
// none, or one that passes on library internals.
func failureLine(command, stderr string) (line, unclear string) {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "uploading: ") || strings.HasPrefix(l, "fetching: ") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) != 1 {
		return strings.Join(lines, " | "), fmt.Sprintf("%d lines on stderr besides progress", len(lines))
	}
	line = lines[0]
	switch {
	case !strings.HasPrefix(line, "neo4j-backup "+command+": "):
		return line, "not a neo4j-backup " + command + " error: " + line
	case len(line) > 400:
		return line, fmt.Sprintf("%d characters: %.200s…", len(line), line)
	}
	if u := objectURL.FindString(line); u != "" {
		return line, "names a request URL (" + u + "): " + line
	}
	for _, internal := range []string{"uploadId", "closed network connection", "goroutine", "panic:"} {
		if strings.Contains(line, internal) {
			return line, "library internals (" + internal + "): " + line
		}
	}
	return line, ""
}

// listed says whether list shows backup id as complete.
func (m *matrix) listed(t *testing.T, g *group, id string) bool {
	res := m.transfer("list", g.server.Endpoint, "--from", g.dest(), "-o", "json")
	if res.err != nil || res.code != 0 {
		t.Fatalf("list: exit %d: %v %s", res.code, res.err, res.stderr)
	}
	var backups []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &backups); err != nil {
		t.Fatalf("list -o json: %v: %s", err, res.stdout)
	}
	for _, b := range backups {
		if b.ID == id && b.Status == "complete" {
			return true
		}
	}
	return false
}

// storedMatches compares the objects of upload id with the source.
func (m *matrix) storedMatches(t *testing.T, g *group, id string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := g.server.Client()
	for name, want := range m.sums {
		obj, err := c.GetObject(ctx, g.server.Bucket, string(g.dir)+"/"+id+"/"+name, minio.GetObjectOptions{})
		if err != nil {
			return false, name + ": " + err.Error()
		}
		h := sha256.New()
		_, err = io.Copy(h, obj)
		obj.Close()
		if err != nil {
			return false, name + ": " + err.Error()
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return false, name + " stored with other bytes"
		}
	}
	return true, ""
}

// openUploads counts the multipart uploads of backup id left open.
func (m *matrix) openUploads(t *testing.T, g *group, id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for u := range g.server.Client().ListIncompleteUploads(ctx, g.server.Bucket, string(g.dir)+"/"+id+"/", true) {
		if u.Err == nil {
			n++
		}
	}
	return n
}

// folderMatches compares a fetched folder with the source.
func (m *matrix) folderMatches(dir string) (bool, string) {
	got, err := sums(dir)
	if err != nil {
		return false, err.Error()
	}
	for name, want := range m.sums {
		if got[name] != want {
			return false, name + " missing or with other bytes"
		}
	}
	for name := range got {
		if _, ok := m.sums[name]; !ok {
			return false, "extra file " + name
		}
	}
	return true, ""
}

func sums(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return out, err
}

// writeSource writes the backup folder: one 64 MiB file and 50 small ones
// of 1 to 100 KiB, the same bytes every time.
func (m *matrix) writeSource() {
	m.source = filepath.Join(m.t.TempDir(), "backup")
	if err := os.Mkdir(m.source, 0o755); err != nil {
		m.t.Fatal(err)
	}
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	write := func(name string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		if err := os.WriteFile(filepath.Join(m.source, name), b, 0o644); err != nil {
			m.t.Fatal(err)
		}
	}
	write(bigFile, bigSize)
	for i := range smallFiles {
		write(fmt.Sprintf("small-%02d", i), 1<<10+rnd.IntN(99<<10))
	}
	var err error
	if m.sums, err = sums(m.source); err != nil {
		m.t.Fatal(err)
	}
}

// startToxiproxy runs TOXIPROXY_SERVER on a free port for the matrix.
func (m *matrix) startToxiproxy() {
	bin := os.Getenv("TOXIPROXY_SERVER")
	if bin == "" {
		m.t.Fatal("set TOXIPROXY_SERVER to a toxiproxy-server v2.5.0 binary (bench/faults.sh builds one)")
	}
	addr, err := controlplane.FreeAddr()
	if err != nil {
		m.t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "-host", host, "-port", port)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	m.toxiURL = "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := controlplane.WaitOK(ctx, m.toxiURL+"/version"); err != nil {
		m.t.Fatalf("toxiproxy did not start: %v", err)
	}
}

// toxiproxy calls toxiproxy's HTTP API.
func (m *matrix) toxiproxy(method, path string, body any) {
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, m.toxiURL+path, in)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Errorf("toxiproxy %s %s: %v", method, path, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		out, _ := io.ReadAll(resp.Body)
		m.t.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, out)
	}
}

func (m *matrix) printTable(runs int) {
	var b strings.Builder
	fmt.Fprintf(&b, "fault matrix: %d runs per fault and direction; 64 MiB file + %d small files; MinIO on 127.0.0.1 behind toxiproxy (%d KB/s per connection) or the S3 fault proxy; --timeout %s: upload %v, fetch %v\n",
		runs, smallFiles, rateKB, noProgress, m.hasTimeout[up], m.hasTimeout[fetch])
	fmt.Fprintf(&b, "%-26s %-7s %5s %9s %15s %4s %9s %10s %7s\n", "fault", "dir", "runs", "finished", "failed cleanly", "bad", "median s", "leftovers", "missed")
	for _, r := range m.rows {
		fmt.Fprintf(&b, "%-26s %-7s %5d %9d %15d %4d %9.1f %10d %7d\n", r.fault, r.dir, r.runs, r.finished, r.clean, r.bad, median(r.times).Seconds(), r.leftovers, r.missed)
	}
	b.WriteString("\nleftovers: runs after which open multipart uploads (upload) or other folders than the backup's (fetch) remained; missed: runs over before the fault was injected\n")
	b.WriteString("\nwhat the failed and bad runs said (count, first 200 characters):\n")
	for _, r := range m.rows {
		keys := make([]string, 0, len(r.messages))
		for k := range r.messages {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s / %s: %dx %.200s\n", r.fault, r.dir, r.messages[k], k)
		}
	}
	if out := os.Getenv("FAULTS_TABLE"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			m.t.Error(err)
		}
	}
	m.t.Log("\n" + b.String())
}

// sameKind blanks what differs between runs in a message (backup IDs,
// hashes, byte counts, ports), so that runs that failed alike count as one.
func sameKind(msg string) string {
	msg = backupIDs.ReplaceAllString(msg, "<id>")
	msg = hashes.ReplaceAllString(msg, "<sha256>")
	return numbers.ReplaceAllString(msg, "<n>")
}

var (
	backupIDs = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	hashes    = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	numbers   = regexp.MustCompile(`\d{4,}`)
)

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
