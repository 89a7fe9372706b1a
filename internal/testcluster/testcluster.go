// Package testcluster is the test harness of every package whose tests need
// Kubernetes: a real control plane (etcd, kube-apiserver, and
// kube-controller-manager with the statefulset, cronjob and job
// controllers), the webhook configurations of manifests/base/webhooks.yaml
// as they ship with their Service pointed at 127.0.0.1, and `neo4j-backup
// serve`, built from this tree and run as a process of its own as its
// ServiceAccount, with the RBAC of manifests/base/rbac.yaml and no more.
//
// A package's TestMain is one line:
//
//	func TestMain(m *testing.M) {
//		testcluster.Main(m, testcluster.Options{Serve: []string{"--image", image}})
//	}
//
// Its tests share one cluster and one serve, each started on first use and
// stopped after the last test, serve first:
//
//	c := testcluster.Shared(t)
//	serve := c.Serve(t)
//
// A test that needs a serve with other flags starts one of its own with
// StartServe; a test that changes what every other test relies on (the
// webhook configurations) takes a cluster of its own with Start.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// Options are what a package's tests need of the harness.
type Options struct {
	// Serve are the flags of the package's shared serve (Cluster.Serve),
	// after those the harness sets (see StartServe): --image and the like.
	Serve []string
}

// harness is set by Main before the tests run and read by them.
var harness struct {
	running bool
	opts    Options
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Main runs a package's tests, for its TestMain, and then stops what they
// shared: the S3 servers of s3test, serve, the control plane, the built
// binaries. It exits with the tests' code, or 1 if something would not stop.
func Main(m *testing.M, opts Options) {
	harness.opts, harness.running = opts, true
	code := s3test.Run(m)
	if shared.c != nil {
		if err := shared.c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
			code = 1
		}
	}
	removeBinaries()
	os.Exit(code)
}

// Cluster is a running control plane with the webhook configurations
// installed and the namespace neo4j-backup created.
type Cluster struct {
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string
	Kube       *kubernetes.Clientset
	// WebhookAddr is the host:port the webhook configurations call, with
	// the certificates of the harness's --cert-dir.
	WebhookAddr string

	cp          *controlplane.ControlPlane
	root        string // the module's folder, for manifests/
	dir         string // temporary: serve's kubeconfig
	controllers *SyncBuffer

	account struct { // serve's ServiceAccount, installed before the first serve
		once       sync.Once
		kubeconfig string
		err        error
	}
	serve struct {
		once sync.Once
		s    *Serve
		err  error
	}
}

// Shared is the cluster of this test binary, started on first use and
// stopped by Main after the last test.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	inMain(t)
	shared.once.Do(func() { shared.c, shared.err = start() })
	if shared.err != nil {
		t.Fatalf("starting the test cluster: %v", shared.err)
	}
	return shared.c
}

// Start starts a cluster of the test's own, stopped when the test ends,
// for a test that changes what the package's other tests rely on.
func Start(t testing.TB) *Cluster {
	t.Helper()
	inMain(t)
	c, err := start()
	if err != nil {
		t.Fatalf("starting a test cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func inMain(t testing.TB) {
	t.Helper()
	if !harness.running {
		t.Fatal("testcluster needs the package's TestMain to call testcluster.Main, which stops what the tests started")
	}
}

func start() (*Cluster, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	controllers := &SyncBuffer{}
	cp, err := controlplane.Start(controlplane.Options{
		Controllers: []string{"statefulset", "cronjob", "job"},
		Webhooks:    []string{filepath.Join(root, "manifests", "base", "webhooks.yaml")},
		Log:         controllers,
	})
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Config:      cp.Config,
		Kubeconfig:  cp.Kubeconfig,
		Kube:        kubernetes.NewForConfigOrDie(cp.Config),
		WebhookAddr: fmt.Sprintf("%s:%d", cp.Webhook.LocalServingHost, cp.Webhook.LocalServingPort),
		cp:          cp,
		root:        root,
		controllers: controllers,
	}
	if c.dir, err = os.MkdirTemp("", "neo4j-backup-testcluster-"); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	if _, err := c.apply("namespace.yaml"); err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return c, nil
}

// stop stops the cluster's serve, then the control plane.
func (c *Cluster) stop() error {
	var errs []error
	if c.serve.s != nil {
		errs = append(errs, c.serve.s.stop())
	}
	if err := c.cp.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// ControllerManagerLog is the last n lines kube-controller-manager wrote.
func (c *Cluster) ControllerManagerLog(n int) string {
	return lastLines(c.controllers.String(), n)
}

// apply creates the objects of manifests/base/file; those already there
// are left as they are.
func (c *Cluster) apply(file string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(c.root, "manifests", "base", file)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	admin, err := client.New(c.Config, client.Options{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// serveKubeconfig installs manifests/base/rbac.yaml, once, and returns a
// kubeconfig that acts as the ServiceAccount it binds.
func (c *Cluster) serveKubeconfig() (string, error) {
	c.account.once.Do(func() {
		c.account.kubeconfig, c.account.err = c.writeServeKubeconfig()
	})
	return c.account.kubeconfig, c.account.err
}

func (c *Cluster) writeServeKubeconfig() (string, error) {
	objs, err := c.apply("rbac.yaml")
	if err != nil {
		return "", err
	}
	var account string
	for _, obj := range objs {
		if obj.GetKind() == "ServiceAccount" {
			account = "system:serviceaccount:" + obj.GetNamespace() + ":" + obj.GetName()
		}
	}
	if account == "" {
		return "", errors.New("manifests/base/rbac.yaml has no ServiceAccount for serve to act as")
	}
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", err
	}
	for _, user := range cfg.AuthInfos {
		user.Impersonate = account
	}
	path := filepath.Join(c.dir, "serve.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}
