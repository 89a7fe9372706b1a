// Package controlplane starts a real Kubernetes control plane on this
// machine — etcd, kube-apiserver and, when asked, kube-controller-manager —
// for the tests and the demo. The binaries are built from the Go module
// proxy by hack/tools.sh and found through KUBEBUILDER_ASSETS.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

// Options say what to start besides etcd and kube-apiserver.
type Options struct {
	// Controllers, when not empty, starts kube-controller-manager with these
	// controllers (e.g. statefulset, cronjob, job).
	Controllers []string
	// Webhooks are admission webhook configuration files to install, their
	// service references pointed at a local server (see Webhook).
	Webhooks []string
	// Log receives the output of kube-controller-manager; nil discards it.
	Log io.Writer
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file for it.
	Kubeconfig string
	// Webhook is where the installed webhook configurations send requests:
	// serve on Webhook.LocalServingHost:LocalServingPort with the
	// certificates in Webhook.LocalServingCertDir.
	Webhook *envtest.WebhookInstallOptions

	env *envtest.Environment
	kcm *exec.Cmd
	dir string
}

// Start starts etcd and kube-apiserver (and kube-controller-manager if asked).
func Start(opts Options) (*ControlPlane, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "neo4j-backup-controlplane-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{Paths: opts.Webhooks, LocalServingHost: "127.0.0.1"},
	}
	// The pods the tests create are checked by PodSecurity admission, as in
	// a real cluster; envtest only turns off the ServiceAccount plugin.
	api := env.ControlPlane.GetAPIServer()
	api.Configure().Append("enable-admission-plugins", "PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook")
	cfg, err := env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	cp := &ControlPlane{Config: cfg, Webhook: &env.WebhookInstallOptions, env: env, dir: dir}

	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "neo4j-backup-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		cp.Stop()
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		cp.Stop()
		return nil, err
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600); err != nil {
		cp.Stop()
		return nil, err
	}
	if len(opts.Controllers) > 0 {
		if err := cp.startControllerManager(assets, api.CertDir, opts); err != nil {
			cp.Stop()
			return nil, err
		}
	}
	return cp, nil
}

// startControllerManager runs kube-controller-manager against the
// apiserver with only the controllers asked for.
func (cp *ControlPlane) startControllerManager(assets, apiCertDir string, opts Options) error {
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+cp.Kubeconfig,
		"--controllers="+strings.Join(opts.Controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+filepath.Join(apiCertDir, "sa-signer.key"),
	)
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	cp.kcm = cmd
	return nil
}

// Stop stops everything Start started, controller manager first.
func (cp *ControlPlane) Stop() error {
	var errs []error
	if cp.kcm != nil && cp.kcm.Process != nil {
		_ = cp.kcm.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cp.kcm.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cp.kcm.Process.Kill()
			<-done
		}
	}
	errs = append(errs, cp.env.Stop(), os.RemoveAll(cp.dir))
	return errors.Join(errs...)
}

// Assets is the folder holding kube-apiserver, etcd and
// kube-controller-manager: $KUBEBUILDER_ASSETS, or the cache hack/tools.sh
// fills, which it builds on first use (many minutes).
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	dir, err := toolcache.Dir(ctx, "control-plane")
	if err != nil {
		return "", fmt.Errorf("building the control plane: %v; run hack/tools.sh control-plane by hand or set KUBEBUILDER_ASSETS", err)
	}
	return dir, nil
}
