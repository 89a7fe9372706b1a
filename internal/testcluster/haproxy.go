package testcluster

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// HAProxy is Debian's haproxy, run as a process of its own in TCP mode in
// front of serve replicas, as a Service's endpoints are: a test of several
// replicas points the webhook configurations at it (it listens on
// Cluster.WebhookAddr) and gives each replica a --webhook-port and
// --health-probe-bind-address of its own, kept when it is started again.
//
// TCP mode passes TLS through, so the apiserver checks serve's certificate
// as in a cluster, and balances connections, not requests: the apiserver
// keeps one HTTP/2 connection open, which moves to another replica only
// when the one it is on closes it. Like kube-proxy's iptables rules it sends
// a new connection to a ready backend picked at random (random(1): HAProxy's
// plain random would pick the less busy of two) and does not retry another
// when that one refuses (no redispatch), and, like the Deployment's
// readiness probe at half its period, it takes a backend out once its
// /readyz fails twice, 500ms apart.
type HAProxy struct {
	socket string // the admin socket
	log    *SyncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
}

// HAProxyBackend is one replica behind HAProxy.
type HAProxyBackend struct {
	Name   string // its name in HAProxy's statistics
	Addr   string // host:port of its webhook server
	Readyz string // host:port of its /readyz
}

// HAProxyServer is what HAProxy says of a backend.
type HAProxyServer struct {
	Status   string // UP, DOWN, "UP 1/2" while it is being checked, …
	Current  int    // connections open to it now
	Sessions int    // connections it was sent, in all
}

// StartHAProxy runs haproxy on listen in front of backends, stopped when the
// test ends. It returns once haproxy answers on its admin socket; the
// backends need not be up.
func StartHAProxy(t testing.TB, listen string, backends []HAProxyBackend) *HAProxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			t.Fatal("haproxy is not installed: apt-get install -y haproxy (.ci/run does)")
		}
	}
	dir := t.TempDir()
	h := &HAProxy{socket: filepath.Join(dir, "admin.sock"), log: &SyncBuffer{}, done: make(chan struct{})}
	var servers strings.Builder
	for _, b := range backends {
		host, port, err := net.SplitHostPort(b.Readyz)
		if err != nil {
			t.Fatalf("backend %s: /readyz address %q: %v", b.Name, b.Readyz, err)
		}
		fmt.Fprintf(&servers, "    server %s %s check addr %s port %s\n", b.Name, b.Addr, host, port)
	}
	config := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5m
    timeout server 5m
    retries 0
frontend webhook
    bind %s
    default_backend serve
backend serve
    balance random(1)
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 500ms downinter 200ms fall 2 rise 1
%s`, h.socket, listen, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(bin, "-db", "-f", path)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
			t.Errorf("haproxy did not stop within 10s of SIGTERM and was killed")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		select {
		case <-h.done:
			return false, errors.New("it exited")
		default:
		}
		_, err := h.stat()
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("haproxy did not answer on its admin socket within 30s (%v); its output:\n%s", err, lastLines(h.log.String(), 20))
	}
	return h
}

// Servers is what HAProxy says of each backend, by name.
func (h *HAProxy) Servers(t testing.TB) map[string]HAProxyServer {
	t.Helper()
	servers, err := h.stat()
	if err != nil {
		t.Fatalf("reading haproxy's statistics: %v; its output:\n%s", err, lastLines(h.log.String(), 20))
	}
	return servers
}

// WaitStatus waits at most timeout until HAProxy says backend name is
// status (UP, DOWN).
func (h *HAProxy) WaitStatus(t testing.TB, name, status string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last HAProxyServer
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
		servers, err := h.stat()
		if err != nil {
			return false, nil // it answers again on the next try, or the wait ends
		}
		last = servers[name]
		return last.Status == status, nil
	})
	if err != nil {
		t.Fatalf("haproxy's backend %s is %q, not %s, after %s (%v)", name, last.Status, status, timeout, err)
	}
}

// stat asks the admin socket for "show stat": CSV, one row per frontend,
// backend and server, with a header line "# pxname,svname,…".
func (h *HAProxy) stat() (map[string]HAProxyServer, error) {
	conn, err := net.DialTimeout("unix", h.socket, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(strings.TrimSpace(string(raw)), "# ")
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("show stat answered %q: %v", text, err)
	}
	column := map[string]int{}
	for i, name := range rows[0] {
		column[name] = i
	}
	servers := map[string]HAProxyServer{}
	for _, row := range rows[1:] {
		if len(row) < len(rows[0]) || row[column["pxname"]] != "serve" {
			continue
		}
		name := row[column["svname"]]
		if name == "FRONTEND" || name == "BACKEND" {
			continue
		}
		current, _ := strconv.Atoi(row[column["scur"]])
		sessions, _ := strconv.Atoi(row[column["stot"]])
		servers[name] = HAProxyServer{Status: row[column["status"]], Current: current, Sessions: sessions}
	}
	return servers, nil
}
