package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

// TestMonitoringInstalls renders each install of README "Install" with the
// monitoring component, as README "Monitoring" says to, and has the
// apiserver accept every object with a server-side dry run, on top of the
// CRDs the Prometheus operator and cert-manager publish.
func TestMonitoringInstalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, kubectl := testcluster.StartForInstalls(ctx, t)

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
			for _, doc := range strings.Split(kubectl(t, "kustomize", dir), "\n---\n") {
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

			out := kubectl(t, "apply", "-k", dir, "--dry-run=server")
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
