package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

// TestMonitoringInstalls renders each install of README "Install" with the
// monitoring component, as README "Monitoring" says to, and has the
// apiserver accept every object with a server-side dry run, on top of the
// CRDs the Prometheus operator and cert-manager publish.
func TestMonitoringInstalls(t *testing.T) {
	// A cluster of its own: the harness's webhook configurations point at a
	// URL, and ours cannot be applied over them (they name a Service), so
	// they go.
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kubectl := monitoringKubectl(t, c.Kubeconfig)
	if err := c.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// create, not apply: the largest of cert-manager's CRDs is over the
	// size of the annotation a client-side apply keeps.
	operator := monitoringToolDir(ctx, t, "prometheus-operator-crds")
	kubectl(ctx, "create",
		"-f", filepath.Join(operator, "monitoring.coreos.com_servicemonitors.yaml"),
		"-f", filepath.Join(operator, "monitoring.coreos.com_prometheusrules.yaml"),
		"-f", monitoringToolDir(ctx, t, "cert-manager-crds"))
	kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
		"crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")

	manifests, err := filepath.Abs(filepath.Join("..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join(manifests, "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, install := range []string{"default", "cert-manager"} {
		t.Run(install, func(t *testing.T) {
			// kustomize takes only relative paths to other kustomizations.
			dir := t.TempDir()
			rel, err := filepath.Rel(dir, manifests)
			if err != nil {
				t.Fatal(err)
			}
			kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
				"resources:\n- " + filepath.Join(rel, install) + "\ncomponents:\n- " + filepath.Join(rel, "monitoring") + "\n"
			if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
				t.Fatal(err)
			}

			objects := map[string]map[string]any{}
			for _, doc := range strings.Split(kubectl(ctx, "kustomize", dir), "\n---\n") {
				var o map[string]any
				if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
					t.Fatal(err)
				}
				objects[o["kind"].(string)+"/"+monitoringLookup(o, "metadata", "name").(string)] = o
			}
			for _, want := range []string{"ServiceMonitor/neo4j-backup", "PrometheusRule/neo4j-backup", "ConfigMap/neo4j-backup-dashboard", "Deployment/neo4j-backup"} {
				if objects[want] == nil {
					t.Errorf("the %s install with manifests/monitoring has no %s", install, want)
				}
			}
			// The ServiceMonitor scrapes the metrics port of serve's Service.
			service := objects["Service/neo4j-backup-webhook"]
			selector, _ := monitoringLookup(objects["ServiceMonitor/neo4j-backup"], "spec", "selector", "matchLabels").(map[string]any)
			if len(selector) == 0 {
				t.Errorf("the ServiceMonitor selects no Service by label")
			}
			for k, v := range selector {
				if got := monitoringLookup(service, "metadata", "labels", k); got != v {
					t.Errorf("the ServiceMonitor selects %s=%v; Service neo4j-backup-webhook has %v", k, v, got)
				}
			}
			endpoints, _ := monitoringLookup(objects["ServiceMonitor/neo4j-backup"], "spec", "endpoints").([]any)
			if len(endpoints) != 1 || monitoringLookup(endpoints[0].(map[string]any), "port") != "metrics" || monitoringLookup(endpoints[0].(map[string]any), "honorLabels") != true {
				t.Errorf("the ServiceMonitor's endpoints are %v, want the port metrics with honorLabels (the series carry their own namespace)", endpoints)
			}
			ports, _ := monitoringLookup(service, "spec", "ports").([]any)
			var named bool
			for _, p := range ports {
				named = named || monitoringLookup(p.(map[string]any), "name") == "metrics"
			}
			if !named {
				t.Errorf("Service neo4j-backup-webhook has no port named metrics: %v", ports)
			}
			// Grafana's sidecar loads ConfigMaps labelled grafana_dashboard: "1".
			cm := objects["ConfigMap/neo4j-backup-dashboard"]
			if got := monitoringLookup(cm, "metadata", "labels", "grafana_dashboard"); got != "1" {
				t.Errorf("the dashboard's ConfigMap has grafana_dashboard %v, want \"1\"", got)
			}
			if got, _ := monitoringLookup(cm, "data", "neo4j-backup.json").(string); !bytes.Equal([]byte(got), dashboard) {
				t.Errorf("the ConfigMap's neo4j-backup.json is not manifests/monitoring/dashboard.json")
			}

			out := kubectl(ctx, "apply", "-k", dir, "--dry-run=server")
			if n := strings.Count(out, "(server dry run)"); n != len(objects) {
				t.Errorf("the apiserver took %d of the %d objects:\n%s", n, len(objects), out)
			}
			for _, want := range []string{"servicemonitor.monitoring.coreos.com/neo4j-backup", "prometheusrule.monitoring.coreos.com/neo4j-backup", "configmap/neo4j-backup-dashboard"} {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply did not apply %s:\n%s", want, out)
				}
			}
		})
	}
}

// monitoringKubectl runs kubectl against kubeconfig, failing the test when
// it fails.
func monitoringKubectl(t *testing.T, kubeconfig string) func(ctx context.Context, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		// Beside kube-apiserver, where envtest's asset bundles keep it.
		assets, _ := controlplane.Assets()
		path = filepath.Join(assets, "kubectl")
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("kubectl is neither on PATH nor in %s; install it, or run hack/tools.sh kubectl and put it on PATH", assets)
		}
	}
	return func(ctx context.Context, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// monitoringToolDir is the folder hack/tools.sh prints for name.
func monitoringToolDir(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	dir, err := toolcache.Dir(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// monitoringLookup walks nested maps of a decoded YAML object.
func monitoringLookup(o map[string]any, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
