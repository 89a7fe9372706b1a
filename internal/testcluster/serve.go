package testcluster

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
)

// Serve is `neo4j-backup serve` running as a process of its own.
type Serve struct {
	args    []string // the flags the test gave
	metrics string   // host:port of --metrics-bind-address
	probe   string   // host:port of --health-probe-bind-address
	log     *SyncBuffer
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	err     error         // how it exited; set before done is closed

	stopOnce sync.Once
	stopErr  error
	waited   atomic.Bool // the test saw the exit itself (Wait): its status is not an error of stop
}

// Serve is the package's serve, with the flags of Options.Serve, on the
// address the webhook configurations call. Started on first use, it runs
// until the cluster stops.
func (c *Cluster) Serve(t testing.TB) *Serve {
	t.Helper()
	c.serve.once.Do(func() { c.serve.s, c.serve.err = c.startServe(harness.opts.Serve) })
	if c.serve.err != nil {
		t.Fatalf("starting serve: %v", c.serve.err)
	}
	s := c.serve.s
	if err := s.Exited(); err != nil {
		t.Fatalf("the package's serve %s exited (%v); its last lines:\n%s", strings.Join(s.args, " "), err, s.LogTail(20))
	}
	return s
}

// StartServe runs a serve of the test's own, stopped when the test ends.
// The harness sets --kubeconfig (serve's ServiceAccount), --webhook-host,
// --webhook-port and --cert-dir (where the webhook configurations call, with
// the certificates they trust), and --metrics-bind-address and
// --health-probe-bind-address (free ports), and --shutdown-delay=0s (no load
// balancer stands between the apiserver and a test's serve); args follow and
// win where they set the same flag. It returns once serve is ready: /readyz
// answers 200 and its metrics can be read.
func (c *Cluster) StartServe(t testing.TB, args ...string) *Serve {
	t.Helper()
	s, err := c.startServe(args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func (c *Cluster) startServe(args []string) (*Serve, error) {
	kubeconfig, err := c.serveKubeconfig()
	if err != nil {
		return nil, err
	}
	bin, err := binary("./cmd/neo4j-backup", "neo4j-backup")
	if err != nil {
		return nil, err
	}
	probe, err := controlplane.FreeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := controlplane.FreeAddr()
	if err != nil {
		return nil, err
	}
	// A test that restarts serve behind a load balancer sets the addresses.
	probe = cmp.Or(flagValue(args, "--health-probe-bind-address"), probe)
	metrics = cmp.Or(flagValue(args, "--metrics-bind-address"), metrics)
	host, port, _ := net.SplitHostPort(c.WebhookAddr)
	flags := append([]string{"serve",
		"--kubeconfig", kubeconfig,
		"--webhook-host", host,
		"--webhook-port", port,
		"--cert-dir", c.cp.Webhook.LocalServingCertDir,
		"--metrics-bind-address", metrics,
		"--health-probe-bind-address", probe,
		"--shutdown-delay=0s",
	}, args...)
	s := &Serve{args: args, metrics: metrics, probe: probe, log: &SyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, flags...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(probe); err != nil {
		return nil, errors.Join(
			fmt.Errorf("serve %s: %v; its last lines:\n%s", strings.Join(args, " "), err, s.LogTail(20)),
			s.stop())
	}
	return s, nil
}

// waitReady waits, for at most a minute, until serve's /readyz answers 200
// and then its metrics do: the gauges it computes from its cache fail the
// scrape until the cache has started, which may come after the webhook
// server is ready.
func (s *Serve) waitReady(probe string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, url := range []string{"http://" + probe + "/readyz", "http://" + s.metrics + "/metrics"} {
		if err := controlplane.WaitOK(ctx, url); err != nil {
			if exit := s.Exited(); exit != nil {
				return fmt.Errorf("it exited before it was ready (%v)", exit)
			}
			return fmt.Errorf("%s did not answer 200 within a minute", url)
		}
	}
	return nil
}

// Exited says how serve ended, or nil while it runs.
func (s *Serve) Exited() error {
	select {
	case <-s.done:
		if s.err == nil {
			return errors.New("exit status 0")
		}
		return s.err
	default:
		return nil
	}
}

// flagValue is the value the last --name in args gives, or "".
func flagValue(args []string, name string) string {
	var value string
	for i, arg := range args {
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			value = v
		} else if arg == name && i+1 < len(args) {
			value = args[i+1]
		}
	}
	return value
}

// ProbeAddr is the host:port of serve's /healthz and /readyz.
func (s *Serve) ProbeAddr() string { return s.probe }

// Stop sends serve SIGTERM and waits for it to exit, as at the end of the
// test (see stop); for a test that stops serve before that.
func (s *Serve) Stop() error { return s.stop() }

// Signal sends serve a signal.
func (s *Serve) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits at most timeout for serve to exit and says how it did: nil
// for exit status 0. The test has then seen the exit itself, so when the
// test ends its status is not reported again (a data race still is).
func (s *Serve) Wait(timeout time.Duration) error {
	select {
	case <-s.done:
		s.waited.Store(true)
		return s.err
	case <-time.After(timeout):
		return fmt.Errorf("serve %s is still running after %s", strings.Join(s.args, " "), timeout)
	}
}

// Pid is serve's process ID.
func (s *Serve) Pid() int { return s.cmd.Process.Pid }

// LogTail is the last n lines serve wrote.
func (s *Serve) LogTail(n int) string { return lastLines(s.log.String(), n) }

// Metric sums the series of the counter or gauge name that serve exports
// on --metrics-bind-address and whose labels include labels; 0 when there
// is none.
func (s *Serve) Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(s.Scrape(t)))
	if err != nil {
		t.Fatalf("reading serve's metrics: %v", err)
	}
	var sum float64
series:
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue series
			}
		}
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return sum
}

// stop sends serve SIGTERM, as the kubelet does, and waits for it to exit:
// 30 seconds, then it is killed (it answers admission requests for
// --shutdown-delay, 0 here unless the test set it, then drains them for up
// to --drain-timeout, 10 seconds by default). An exit other than 0 and a data
// race it reported are errors.
func (s *Serve) stop() error {
	s.stopOnce.Do(func() {
		name := strings.Join(append([]string{"serve"}, s.args...), " ")
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("%s did not stop within 30s of SIGTERM and was killed; its last lines:\n%s", name, s.LogTail(20))
			return
		}
		var errs []error
		if race := raceReport(s.log.String()); race != "" {
			errs = append(errs, fmt.Errorf("the race detector found a data race in %s:\n%s", name, race))
		}
		if s.err != nil && !s.waited.Load() {
			errs = append(errs, fmt.Errorf("%s ended with %v on SIGTERM; its last lines:\n%s", name, s.err, s.LogTail(20)))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// raceReport is the first report of the race detector in a log, or "".
func raceReport(log string) string {
	const rule = "==================\n"
	i := strings.Index(log, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(log[:i], rule)
	if start < 0 {
		start = i
	}
	end := strings.Index(log[i:], rule)
	if end < 0 {
		return log[start:]
	}
	return log[start : i+end+len(rule)]
}

// SyncBuffer collects what a process writes while a test reads it: exec
// copies a child's output from a goroutine of its own.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
