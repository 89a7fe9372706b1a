// Package s3test runs real S3 servers on 127.0.0.1 for tests: versitygw
// (posix backend) and MinIO.
//
// A test that only reads and writes objects takes a bucket of its own on a
// server its test binary shares (SharedVersitygw, SharedMinIO): one process
// per binary, started on first use and stopped by Run after the last test.
// A test that kills or restarts the server takes a server of its own
// (Versitygw, MinIO), on a free port with its own folder and one bucket,
// stopped when the test ends.
//
// The servers are found through NEO4J_BACKUP_VERSITYGW and NEO4J_BACKUP_MINIO
// (the path of the binary) or else by running hack/tools.sh from the
// repository, which builds them once into a cache. A test that cannot find
// one fails, saying how to build it: these tests are never skipped.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

// Credentials every test server accepts.
const (
	AccessKey = "neo4j-backup-test"
	SecretKey = "neo4j-backup-test-secret"
	Region    = "us-east-1"
)

// Server is one test's view of an S3 server: its endpoint and the test's
// bucket.
type Server struct {
	Name     string // versitygw or minio
	Endpoint string // http://127.0.0.1:PORT
	Bucket   string
	Dir      string // where the server keeps its data

	t    testing.TB
	proc *process
}

// process is a running S3 server program.
type process struct {
	kind   serverKind
	binary string
	addr   string
	root   string // holds dir and the log
	dir    string
	log    *os.File
	shared bool

	mu     sync.Mutex // guards cmd and exited: Kill may come from any goroutine
	cmd    *exec.Cmd
	exited chan struct{}
}

type serverKind struct {
	name   string
	envVar string
	health string
	args   func(addr, dir string) []string
	env    []string
}

var (
	versitygw = serverKind{
		name:   "versitygw",
		envVar: "NEO4J_BACKUP_VERSITYGW",
		health: "/health",
		args: func(addr, dir string) []string {
			return []string{"--port", addr, "--health", "/health", "posix", dir}
		},
		env: []string{"ROOT_ACCESS_KEY_ID=" + AccessKey, "ROOT_SECRET_ACCESS_KEY=" + SecretKey},
	}
	minioServer = serverKind{
		name:   "minio",
		envVar: "NEO4J_BACKUP_MINIO",
		health: "/minio/health/ready",
		args: func(addr, dir string) []string {
			return []string{"server", dir, "--address", addr, "--quiet"}
		},
		env: []string{"MINIO_ROOT_USER=" + AccessKey, "MINIO_ROOT_PASSWORD=" + SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_REGION=" + Region},
	}
)

// Versitygw starts a versitygw of the test's own with a fresh folder and
// bucket, for a test that kills or restarts it.
func Versitygw(t testing.TB) *Server { return own(t, versitygw) }

// MinIO starts a MinIO of the test's own with a fresh folder and bucket.
func MinIO(t testing.TB) *Server { return own(t, minioServer) }

// SharedVersitygw makes a fresh bucket for the test on the versitygw its
// test binary shares. The package's TestMain must run the tests with Run.
func SharedVersitygw(t testing.TB) *Server { return sharedBucket(t, versitygw) }

// SharedMinIO makes a fresh bucket for the test on the MinIO its test
// binary shares. The package's TestMain must run the tests with Run.
func SharedMinIO(t testing.TB) *Server { return sharedBucket(t, minioServer) }

// shared holds the servers of this test binary that Run stops.
var shared struct {
	mu      sync.Mutex
	running bool // inside Run
	procs   map[string]*process
	buckets int
}

// Run runs a package's tests, for its TestMain, and then stops the shared
// servers they started. It returns m.Run's exit code, or 1 if a server
// would not stop.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.running = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.running = false
	for _, p := range shared.procs {
		if err := p.kill(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
		p.log.Close()
		os.RemoveAll(p.root)
	}
	shared.procs = nil
	return code
}

func own(t testing.TB, kind serverKind) *Server {
	t.Helper()
	root := t.TempDir()
	p, err := newProcess(kind, Binary(t, kind.name, kind.envVar), root)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Name: kind.name, Endpoint: "http://" + p.addr, Bucket: "backups", Dir: p.dir, t: t, proc: p}
	t.Cleanup(func() {
		if err := p.kill(); err != nil {
			t.Error(err)
		}
		p.log.Close()
		s.logIfFailed()
	})
	s.Start()
	s.makeBucket()
	return s
}

func sharedBucket(t testing.TB, kind serverKind) *Server {
	t.Helper()
	binary := Binary(t, kind.name, kind.envVar)
	shared.mu.Lock()
	if !shared.running {
		shared.mu.Unlock()
		t.Fatalf("a shared %s needs the package's TestMain to run the tests with s3test.Run (or testcluster.Main), which stops it after them", kind.name)
	}
	p := shared.procs[kind.name]
	if p == nil {
		var err error
		if p, err = startShared(kind, binary); err != nil {
			shared.mu.Unlock()
			t.Fatalf("starting the shared %s: %v", kind.name, err)
		}
		if shared.procs == nil {
			shared.procs = map[string]*process{}
		}
		shared.procs[kind.name] = p
	}
	shared.buckets++
	bucket := fmt.Sprintf("backups-%d", shared.buckets)
	shared.mu.Unlock()
	s := &Server{Name: kind.name, Endpoint: "http://" + p.addr, Bucket: bucket, Dir: p.dir, t: t, proc: p}
	t.Cleanup(s.logIfFailed)
	s.makeBucket()
	return s
}

// startShared starts the server of a kind that the test binary shares, in
// a temporary folder that Run removes.
func startShared(kind serverKind, binary string) (*process, error) {
	root, err := os.MkdirTemp("", "neo4j-backup-s3test-")
	if err != nil {
		return nil, err
	}
	p, err := newProcess(kind, binary, root)
	if err == nil {
		p.shared = true
		if err = p.start(); err != nil {
			p.log.Close()
		}
	}
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return p, nil
}

// newProcess prepares a server on a free port keeping its data under root.
func newProcess(kind serverKind, binary, root string) (*process, error) {
	addr, err := controlplane.FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &process{kind: kind, binary: binary, addr: addr, root: root, dir: filepath.Join(root, "data")}
	if err := os.Mkdir(p.dir, 0o755); err != nil {
		return nil, err
	}
	if p.log, err = os.Create(filepath.Join(root, kind.name+".log")); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) makeBucket() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: Region}); err != nil {
		s.t.Fatalf("%s: creating bucket %s: %v", s.Name, s.Bucket, err)
	}
}

func (s *Server) logIfFailed() {
	if !s.t.Failed() {
		return
	}
	if out, err := os.ReadFile(s.proc.log.Name()); err == nil && len(out) > 0 {
		s.t.Logf("%s log:\n%s", s.Name, tail(out, 4000))
	}
}

// Start runs the server (again, after Kill: same port, same folder) and
// waits until it reports ready.
func (s *Server) Start() {
	s.t.Helper()
	if s.proc.shared {
		s.t.Fatalf("%s is shared by the test binary; take one of the test's own (s3test.Versitygw or s3test.MinIO) to restart it", s.Name)
	}
	if err := s.proc.start(); err != nil {
		out, _ := os.ReadFile(s.proc.log.Name())
		s.t.Fatalf("%v\n%s", err, tail(out, 4000))
	}
}

// Kill stops the server at once (SIGKILL), as a crash would, and waits for it.
func (s *Server) Kill() {
	if s.proc.shared {
		s.t.Fatalf("%s is shared by the test binary; take one of the test's own (s3test.Versitygw or s3test.MinIO) to kill it", s.Name)
	}
	if err := s.proc.kill(); err != nil {
		s.t.Error(err)
	}
}

// Client is a minio-go client with the server's root credentials, for
// tests that arrange or inspect objects behind the code under test.
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	c, err := minio.New(s.proc.addr, &minio.Options{
		Creds:  credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region: Region,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// start runs the program and waits until its health endpoint answers 200,
// it exits, or 30 seconds have passed.
func (p *process) start() error {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		return fmt.Errorf("%s is already running", p.kind.name)
	}
	cmd := exec.Command(p.binary, p.kind.args(p.addr, p.dir)...)
	cmd.Env = append(baseEnv(), p.kind.env...)
	cmd.Dir = p.root
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", p.kind.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()

	ctx, cancel := context.WithTimeoutCause(context.Background(), 30*time.Second, errors.New("not ready within 30s"))
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := controlplane.WaitOK(ctx, "http://"+p.addr+p.kind.health); err != nil {
		if err := p.kill(); err != nil {
			return err
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready", p.kind.name)
		default:
			return fmt.Errorf("%s did not become ready: %v", p.kind.name, context.Cause(ctx))
		}
	}
	return nil
}

// kill stops the program with SIGKILL and waits, for at most 30 seconds,
// until it has exited.
func (p *process) kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Kill()
	p.cmd = nil
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not exit within 30s of SIGKILL", p.kind.name)
	}
}

// baseEnv is this process's environment without AWS and S3 settings, so a
// developer's own configuration cannot leak into the servers.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "VGW_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var (
	binariesMu sync.Mutex
	binaries   = map[string]string{}
)

// Binary finds a tool: from envVar (the binary's path), else by running
// hack/tools.sh NAME, which builds it once into a cache. It fails the test,
// saying how to get the tool, when neither works.
func Binary(t testing.TB, name, envVar string) string {
	t.Helper()
	binariesMu.Lock()
	defer binariesMu.Unlock()
	if path, ok := binaries[name]; ok {
		return path
	}
	howTo := fmt.Sprintf("run hack/tools.sh %s (it builds %s once into a cache), or set %s to the path of a %s binary", name, name, envVar, name)
	if path := os.Getenv(envVar); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s=%s: %v; %s", envVar, path, err, howTo)
		}
		binaries[name] = path
		return path
	}
	ctx := context.Background()
	if deadline, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := deadline.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
			defer cancel()
		}
	}
	dir, err := toolcache.Dir(ctx, name)
	if err != nil {
		t.Fatalf("%s not found: %v; %s", name, err, howTo)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found at %s: %v; %s", name, path, err, howTo)
	}
	binaries[name] = path
	return path
}
