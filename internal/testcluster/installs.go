package testcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

// Kubectl is the machine's kubectl (or the one beside kube-apiserver, where
// envtest's asset bundles keep it) run against kubeconfig ("": none), for
// as long as ctx lasts; a failed run fails the test with its output.
func Kubectl(ctx context.Context, t testing.TB, kubeconfig string) func(t testing.TB, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		assets, _ := controlplane.Assets()
		path = filepath.Join(assets, "kubectl")
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("kubectl is neither on PATH nor in %s; install it, or run hack/tools.sh kubectl and put it on PATH", assets)
		}
	}
	return func(t testing.TB, args ...string) string {
		t.Helper()
		if kubeconfig != "" {
			args = append([]string{"--kubeconfig", kubeconfig}, args...)
		}
		out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// ToolDir is the folder hack/tools.sh prints for name (a tool it built, or
// CRDs it found in the Go module cache).
func ToolDir(ctx context.Context, t testing.TB, name string) string {
	t.Helper()
	dir, err := toolcache.Dir(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartForInstalls starts a cluster of its own for applying what ships (the
// kustomize trees, the Helm chart) with a server-side dry run, and returns
// it with its kubectl. The harness's webhook configurations go: they point
// at a URL, and the shipped ones, which name a Service, cannot be applied
// over them. The CRDs of the Prometheus operator (ServiceMonitor,
// PrometheusRule) and of cert-manager come, as those projects publish them.
func StartForInstalls(ctx context.Context, t *testing.T) (*Cluster, func(t testing.TB, args ...string) string) {
	t.Helper()
	c := Start(t)
	kubectl := Kubectl(ctx, t, c.Kubeconfig)
	if err := c.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// create, not apply: the largest of cert-manager's CRDs is over the
	// size of the annotation a client-side apply keeps.
	operator := ToolDir(ctx, t, "prometheus-operator-crds")
	kubectl(t, "create",
		"-f", filepath.Join(operator, "monitoring.coreos.com_servicemonitors.yaml"),
		"-f", filepath.Join(operator, "monitoring.coreos.com_prometheusrules.yaml"),
		"-f", ToolDir(ctx, t, "cert-manager-crds"))
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
		"crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
	return c, kubectl
}
