// Package s3test runs real S3 servers on 127.0.0.1 for tests: versitygw
// (posix backend) and MinIO, each on a free port with its own temporary
// folder and one bucket, stopped when the test ends.
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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

// Credentials every test server accepts.
const (
	AccessKey = "neo4j-backup-test"
	SecretKey = "neo4j-backup-test-secret"
	Region    = "us-east-1"
)

// Server is one S3 server running for a test.
type Server struct {
	Name     string // versitygw or minio
	Endpoint string // http://127.0.0.1:PORT
	Bucket   string
	Dir      string // where it keeps its data

	t      testing.TB
	kind   serverKind
	binary string
	port   int
	log    *os.File

	mu     sync.Mutex // guards cmd and exited: Kill may come from any goroutine
	cmd    *exec.Cmd
	exited chan struct{}
}

type serverKind struct {
	name   string
	envVar string
	health string
	args   func(port int, dir string) []string
	env    []string
}

var (
	versitygw = serverKind{
		name:   "versitygw",
		envVar: "NEO4J_BACKUP_VERSITYGW",
		health: "/health",
		args: func(port int, dir string) []string {
			return []string{"--port", addr(port), "--health", "/health", "posix", dir}
		},
		env: []string{"ROOT_ACCESS_KEY_ID=" + AccessKey, "ROOT_SECRET_ACCESS_KEY=" + SecretKey},
	}
	minioServer = serverKind{
		name:   "minio",
		envVar: "NEO4J_BACKUP_MINIO",
		health: "/minio/health/ready",
		args: func(port int, dir string) []string {
			return []string{"server", dir, "--address", addr(port), "--quiet"}
		},
		env: []string{"MINIO_ROOT_USER=" + AccessKey, "MINIO_ROOT_PASSWORD=" + SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_REGION=" + Region},
	}
)

// Versitygw starts versitygw with a fresh folder and bucket.
func Versitygw(t testing.TB) *Server { return start(t, versitygw) }

// MinIO starts MinIO with a fresh folder and bucket.
func MinIO(t testing.TB) *Server { return start(t, minioServer) }

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func start(t testing.TB, kind serverKind) *Server {
	t.Helper()
	s := &Server{
		Name:   kind.name,
		Bucket: "backups",
		Dir:    filepath.Join(t.TempDir(), "data"),
		t:      t,
		kind:   kind,
		binary: Binary(t, kind.name, kind.envVar),
		port:   freePort(t),
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Endpoint = "http://" + addr(s.port)
	log, err := os.Create(filepath.Join(filepath.Dir(s.Dir), kind.name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	s.log = log
	t.Cleanup(func() {
		s.Kill()
		log.Close()
		if t.Failed() {
			if out, err := os.ReadFile(log.Name()); err == nil && len(out) > 0 {
				t.Logf("%s log:\n%s", kind.name, tail(out, 4000))
			}
		}
	})
	s.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("%s: creating bucket %s: %v", kind.name, s.Bucket, err)
	}
	return s
}

// Start runs the server (again, after Kill: same port, same folder) and
// waits until it reports ready.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		s.t.Fatalf("%s is already running", s.Name)
	}
	cmd := exec.Command(s.binary, s.kind.args(s.port, s.Dir)...)
	cmd.Env = append(baseEnv(), s.kind.env...)
	cmd.Dir = filepath.Dir(s.Dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(exited, 30*time.Second); err != nil {
		s.Kill()
		out, _ := os.ReadFile(s.log.Name())
		s.t.Fatalf("%s did not become ready: %v\n%s", s.Name, err, tail(out, 4000))
	}
}

// Kill stops the server at once (SIGKILL), as a crash would, and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Errorf("%s did not exit within 30s of SIGKILL", s.Name)
	}
	s.cmd = nil
}

// Client is a minio-go client with the server's root credentials, for
// tests that arrange or inspect objects behind the code under test.
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	c, err := minio.New(addr(s.port), &minio.Options{
		Creds:  credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region: Region,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// waitReady polls the health endpoint until it answers 200, the server
// exits, or the time is up.
func (s *Server) waitReady(exited <-chan struct{}, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for attempt := 0; ; attempt++ {
		resp, err := client.Get(s.Endpoint + s.kind.health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %d attempts in %v: %v", attempt+1, limit, err)
		}
		select {
		case <-exited:
			return errors.New("it exited")
		case <-tick.C:
		}
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

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
