// Package charts_test keeps the Helm chart charts/neo4j-backup and the
// kustomize tree manifests/ one source of truth: both are rendered with the
// same settings and must give the same objects, and the chart's objects must
// be taken by a real apiserver that knows the CRDs of cert-manager and of the
// Prometheus operator.
//
// The webhook configurations the chart renders are, by TestChartMatchesKustomize,
// manifests/base/webhooks.yaml, the very configurations internal/testcluster
// registers for every admission test: a chart change that would break
// admission fails here, and one to the kustomize tree fails the admission tests.
package charts_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{})
}

// renderKubeVersion is the Kubernetes version the chart is rendered for:
// the oldest its kubeVersion allows. A helm built with go install, as
// hack/tools.sh builds it, assumes v1.20 and would refuse the chart, and the
// test apiserver, built the same way, says it is v0.0.0.
const renderKubeVersion = "v1.30.0"

// The chart, and the namespace both trees are rendered into. kustomize's is
// fixed; Helm's is the release namespace.
const (
	chart     = "neo4j-backup"
	namespace = "neo4j-backup"
)

// install is one way of installing: a kustomize tree and the chart values
// that must render the same objects.
type install struct {
	name       string
	kustomize  string // folder under manifests/
	monitoring bool   // with the component manifests/monitoring
	values     []string
}

var installs = []install{
	{name: "default", kustomize: "default"},
	{name: "cert-manager", kustomize: "cert-manager", values: []string{"certificates.mode=cert-manager"}},
	{name: "default+monitoring", kustomize: "default", monitoring: true, values: []string{"monitoring.enabled=true"}},
	{name: "cert-manager+monitoring", kustomize: "cert-manager", monitoring: true, values: []string{"certificates.mode=cert-manager", "monitoring.enabled=true"}},
}

// TestChartMatchesKustomize renders every install both ways and compares
// the objects field by field. The kustomize tree has one object more, the
// Namespace: Helm makes the release namespace (--create-namespace) and a
// chart cannot own it too, so the chart renders none.
func TestChartMatchesKustomize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	helm := helmCommand(ctx, t)
	for _, in := range installs {
		t.Run(in.name, func(t *testing.T) {
			want := decode(t, kustomize(ctx, t, in))
			got := decode(t, helm(t, templateArgs(namespace, renderKubeVersion, in.values)...))
			if want["Namespace//"+namespace] == nil {
				t.Fatalf("manifests/%s has no Namespace %s; this test expects it to be the one object the chart leaves to Helm", in.kustomize, namespace)
			}
			delete(want, "Namespace//"+namespace)
			for _, objs := range []map[string]map[string]any{want, got} {
				for _, o := range objs {
					foldCEL(o)
				}
			}
			for _, key := range sortedKeys(want) {
				if got[key] == nil {
					t.Errorf("manifests/%s has %s, the chart with %v has not", in.kustomize, key, in.values)
					continue
				}
				for _, d := range differences("", want[key], got[key]) {
					t.Errorf("%s: %s", key, d)
				}
			}
			for _, key := range sortedKeys(got) {
				if want[key] == nil {
					t.Errorf("the chart with %v has %s, manifests/%s has not", in.values, key, in.kustomize)
				}
			}
		})
	}
}

// TestChartWebhooksAreTheAdmissionTests': with the default values the chart's
// webhook configurations are manifests/base/webhooks.yaml exactly as
// internal/testcluster decodes and registers it, CEL spacing included.
func TestChartWebhooksAreTheAdmissionTests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	raw, err := os.ReadFile(filepath.Join("..", "manifests", "base", "webhooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, string(raw))
	got := decode(t, helmCommand(ctx, t)(t, templateArgs(namespace, renderKubeVersion, nil)...))
	if len(want) != 2 {
		t.Fatalf("manifests/base/webhooks.yaml has %v; want the two webhook configurations", sortedKeys(want))
	}
	for _, key := range sortedKeys(want) {
		if got[key] == nil {
			t.Errorf("the chart renders no %s", key)
		}
		for _, d := range differences("", want[key], got[key]) {
			t.Errorf("%s: %s", key, d)
		}
	}
}

// TestChartMonitoringFiles: the chart reads the alerting rules and the
// dashboard from its own files/, since Helm reads nothing outside the chart
// (nor follows a symlink there); they must be manifests/monitoring's, byte
// for byte, so that the promtool tests of the rules test the chart's too.
func TestChartMonitoringFiles(t *testing.T) {
	for _, name := range []string{"prometheusrule.yaml", "dashboard.json"} {
		want, err := os.ReadFile(filepath.Join("..", "manifests", "monitoring", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chart, "files", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/neo4j-backup/files/%s is not manifests/monitoring/%s; copy it: cp manifests/monitoring/%s charts/neo4j-backup/files/", name, name, name)
		}
	}
}

// TestChartLint lints the chart with the values of every install, strictly
// (warnings fail), with its values.schema.json.
func TestChartLint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	helm := helmCommand(ctx, t)
	for _, in := range installs {
		args := []string{"lint", chart, "--strict", "--kube-version", renderKubeVersion}
		for _, v := range in.values {
			args = append(args, "--set", v)
		}
		if out := helm(t, args...); !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm lint with %v:\n%s", in.values, out)
		}
	}
}

// TestChartRefuses: values the chart cannot install are refused when
// rendered, naming the value, by values.schema.json or the chart's checks.
func TestChartRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path := helmPath(ctx, t)
	for _, c := range []struct {
		values []string
		says   string
	}{
		{[]string{"certificates.mode=cert-manger"}, "/certificates/mode"},
		{[]string{"replica=3"}, "'replica' not allowed"},
		{[]string{"replicas=two"}, "/replicas"},
		{[]string{"defaultDestination=prod-backups/neo4j"}, "/defaultDestination"},
		{[]string{"extraArgs[0]=leader-elect"}, "/extraArgs/0"},
		{[]string{"image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{[]string{"podDisruptionBudget.minAvailable=half"}, "/podDisruptionBudget/minAvailable"},
		{[]string{"metrics.port=9443"}, "/metrics/port"},
		{[]string{"monitoring.enabled=true", "metrics.enabled=false"}, "monitoring.enabled needs metrics.enabled"},
		{[]string{"podDisruptionBudget.maxUnavailable=1"}, "one of minAvailable and maxUnavailable"},
	} {
		out, err := exec.CommandContext(ctx, path, templateArgs(namespace, renderKubeVersion, c.values)...).CombinedOutput()
		if err == nil {
			t.Errorf("helm template with %v rendered; want it refused", c.values)
			continue
		}
		if !strings.Contains(string(out), c.says) {
			t.Errorf("helm template with %v was refused with\n%s\nwant it to say %q", c.values, out, c.says)
		}
	}
}

// TestChartValues: each value does what values.yaml says, and nothing else
// (the defaults are TestChartMatchesKustomize's).
func TestChartValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	helm := helmCommand(ctx, t)
	render := func(t *testing.T, ns string, values ...string) map[string]map[string]any {
		t.Helper()
		return decode(t, helm(t, templateArgs(ns, renderKubeVersion, values)...))
	}
	deployment := func(t *testing.T, objs map[string]map[string]any) (pod, container map[string]any) {
		t.Helper()
		d := objs["Deployment/"+namespace+"/neo4j-backup"]
		if d == nil {
			t.Fatalf("no Deployment neo4j-backup among %v", sortedKeys(objs))
		}
		pod, _ = lookup(d, "spec", "template", "spec").(map[string]any)
		containers, _ := pod["containers"].([]any)
		container, _ = containers[0].(map[string]any)
		return pod, container
	}
	defaults := render(t, namespace)
	defaultPod, defaultContainer := deployment(t, defaults)

	t.Run("image", func(t *testing.T) {
		_, c := deployment(t, defaults)
		if got, want := c["image"], "ghcr.io/neo4j-backup/neo4j-backup:"+appVersion(t); got != want {
			t.Errorf("image %v by default, want %s (the chart's appVersion)", got, want)
		}
		_, c = deployment(t, render(t, namespace, "image.repository=registry.example/neo4j-backup", "image.tag=v9", "image.pullPolicy=Always"))
		if c["image"] != "registry.example/neo4j-backup:v9" || c["imagePullPolicy"] != "Always" {
			t.Errorf("image %v, imagePullPolicy %v; want registry.example/neo4j-backup:v9, Always", c["image"], c["imagePullPolicy"])
		}
	})
	t.Run("args", func(t *testing.T) {
		_, c := deployment(t, render(t, namespace, "defaultDestination=s3://prod-backups/neo4j", "extraArgs={--cert-validity=2160h,--webhook-host=0.0.0.0}"))
		want := append(slices.Clone(defaultContainer["args"].([]any)), "--default-destination=s3://prod-backups/neo4j", "--cert-validity=2160h", "--webhook-host=0.0.0.0")
		if !reflect.DeepEqual(c["args"], want) {
			t.Errorf("args %v, want %v", c["args"], want)
		}
	})
	t.Run("placement", func(t *testing.T) {
		objs := render(t, namespace, "replicas=3", "nodeSelector.pool=system", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
			"affinity=null", "priorityClassName=system-cluster-critical", "imagePullSecrets[0].name=regcred",
			"resources.limits.memory=512Mi")
		p, c := deployment(t, objs)
		if got := lookup(objs["Deployment/"+namespace+"/neo4j-backup"], "spec", "replicas"); got != 3.0 {
			t.Errorf("replicas %v, want 3", got)
		}
		for field, want := range map[string]any{
			"nodeSelector":      map[string]any{"pool": "system"},
			"tolerations":       []any{map[string]any{"key": "dedicated", "operator": "Exists"}},
			"affinity":          nil,
			"priorityClassName": "system-cluster-critical",
			"imagePullSecrets":  []any{map[string]any{"name": "regcred"}},
		} {
			if !reflect.DeepEqual(p[field], want) {
				t.Errorf("%s %v, want %v", field, p[field], want)
			}
		}
		if defaultPod["affinity"] == nil {
			t.Errorf("no affinity by default; want the replicas spread over nodes")
		}
		if got := lookup(c, "resources", "limits", "memory"); got != "512Mi" {
			t.Errorf("memory limit %v, want 512Mi", got)
		}
		if got := lookup(c, "resources", "requests", "cpu"); got != "50m" {
			t.Errorf("cpu request %v, want the default 50m kept", got)
		}
	})
	t.Run("pdb", func(t *testing.T) {
		if objs := render(t, namespace, "podDisruptionBudget.enabled=false"); objs["PodDisruptionBudget/"+namespace+"/neo4j-backup"] != nil {
			t.Errorf("a PodDisruptionBudget with podDisruptionBudget.enabled=false")
		}
		pdb := render(t, namespace, "podDisruptionBudget.minAvailable=null", "podDisruptionBudget.maxUnavailable=50%")["PodDisruptionBudget/"+namespace+"/neo4j-backup"]
		if spec, _ := pdb["spec"].(map[string]any); spec["maxUnavailable"] != "50%" || spec["minAvailable"] != nil {
			t.Errorf("PodDisruptionBudget spec %v, want maxUnavailable 50%% and no minAvailable", spec)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		objs := render(t, namespace, "metrics.enabled=false")
		_, c := deployment(t, objs)
		if !slices.Contains(c["args"].([]any), any("--metrics-bind-address=0")) {
			t.Errorf("args %v, want --metrics-bind-address=0", c["args"])
		}
		for _, ports := range []any{c["ports"], lookup(objs["Service/"+namespace+"/neo4j-backup-webhook"], "spec", "ports")} {
			for _, p := range ports.([]any) {
				if p.(map[string]any)["name"] == "metrics" {
					t.Errorf("a port metrics with metrics.enabled=false: %v", ports)
				}
			}
		}
		objs = render(t, namespace, "monitoring.enabled=true", "monitoring.additionalLabels.release=prometheus")
		for _, key := range []string{"ServiceMonitor/" + namespace + "/neo4j-backup", "PrometheusRule/" + namespace + "/neo4j-backup"} {
			if got := lookup(objs[key], "metadata", "labels"); !reflect.DeepEqual(got, map[string]any{"app.kubernetes.io/name": "neo4j-backup", "release": "prometheus"}) {
				t.Errorf("%s has labels %v, want release: prometheus added", key, got)
			}
		}
	})
	// Everything that names serve's namespace names the release's: the
	// objects' own, the webhooks' Service and the namespace they leave out,
	// the RBAC subjects, the serving certificate's names and its CA's
	// injection.
	t.Run("namespace", func(t *testing.T) {
		const other = "backup-system"
		for _, values := range [][]string{nil, {"certificates.mode=cert-manager", "monitoring.enabled=true"}} {
			var excluded int
			for key, o := range decode(t, helm(t, templateArgs(other, renderKubeVersion, values)...)) {
				leaves("", o, func(path, v string) {
					if strings.HasSuffix(path, ".namespace") && v != other ||
						strings.Contains(v, "."+namespace+".svc") || strings.HasPrefix(v, namespace+"/") || v == namespace && strings.Contains(path, "namespaceSelector") {
						t.Errorf("%s with %v into %s: %s is %s", key, values, other, path, v)
					}
					if strings.HasSuffix(path, "namespaceSelector.matchExpressions[0].values[3]") && v == other {
						excluded++
					}
				})
			}
			if excluded != 4 {
				t.Errorf("%d of the 4 webhooks leave out the release namespace %s, with %v", excluded, other, values)
			}
		}
	})
}

// TestChartOnAPIServer has a real apiserver, with the CRDs cert-manager and
// the Prometheus operator publish, take every object the chart renders for
// every install with a server-side dry run; and the kustomize trees'
// cert-manager overlay with them.
func TestChartOnAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, kubectl := testcluster.StartForInstalls(ctx, t)
	helm := helmCommand(ctx, t)

	// The harness made neo4j-backup; a second namespace shows the chart
	// installs into any.
	const other = "backup-system"
	kubectl(t, "create", "namespace", other)

	dryRun := func(t *testing.T, what string, objects int, args ...string) {
		t.Helper()
		out := kubectl(t, append([]string{"apply", "--dry-run=server"}, args...)...)
		if n := strings.Count(out, "(server dry run)"); n != objects {
			t.Errorf("the apiserver took %d of the %d objects of %s:\n%s", n, objects, what, out)
		}
	}
	for _, in := range installs {
		for _, ns := range []string{namespace, other} {
			t.Run(in.name+"/"+ns, func(t *testing.T) {
				out := helm(t, templateArgs(ns, renderKubeVersion, in.values)...)
				file := filepath.Join(t.TempDir(), "chart.yaml")
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				dryRun(t, "the chart with "+strings.Join(in.values, ","), len(decode(t, out)), "-f", file)
			})
		}
	}
	// manifests/monitoring's test applies the overlays with the monitoring
	// component; here they are applied as README "Install" says.
	for _, tree := range []string{"default", "cert-manager"} {
		t.Run("manifests/"+tree, func(t *testing.T) {
			dir := filepath.Join("..", "manifests", tree)
			dryRun(t, "manifests/"+tree, len(decode(t, kubectl(t, "kustomize", dir))), "-k", dir)
		})
	}
}

// templateArgs renders the chart as release neo4j-backup into ns with the
// --set values.
func templateArgs(ns, kubeVersion string, values []string) []string {
	args := []string{"template", "neo4j-backup", chart, "--namespace", ns, "--kube-version", kubeVersion}
	for _, v := range values {
		args = append(args, "--set", v)
	}
	return args
}

// kustomize renders in's kustomize tree, with the monitoring component when
// it asks for it, as README "Monitoring" composes them.
func kustomize(ctx context.Context, t *testing.T, in install) string {
	t.Helper()
	kubectl := testcluster.Kubectl(ctx, t, "")
	manifests, err := filepath.Abs(filepath.Join("..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	if !in.monitoring {
		return kubectl(t, "kustomize", filepath.Join(manifests, in.kustomize))
	}
	// kustomize takes only relative paths to other kustomizations.
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, manifests)
	if err != nil {
		t.Fatal(err)
	}
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources:\n- " + filepath.Join(rel, in.kustomize) + "\ncomponents:\n- " + filepath.Join(rel, "monitoring") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	return kubectl(t, "kustomize", dir)
}

// decode splits rendered YAML into its objects by kind/namespace/name,
// failing on a name that comes twice.
func decode(t *testing.T, rendered string) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if len(o) == 0 {
			continue // a template that rendered nothing, or only comments
		}
		ns, _ := lookup(o, "metadata", "namespace").(string)
		key := fmt.Sprintf("%v/%s/%v", o["kind"], ns, lookup(o, "metadata", "name"))
		if objs[key] != nil {
			t.Fatalf("%s comes twice", key)
		}
		objs[key] = o
	}
}

// foldCEL collapses the spacing of the CEL expressions of a webhook
// configuration's matchConditions. kustomize writes a folded scalar whose
// lines are indented further with a blank line between them, which the
// chart, like the file, has not; CEL reads either alike.
func foldCEL(o map[string]any) {
	webhooks, _ := o["webhooks"].([]any)
	for _, w := range webhooks {
		conditions, _ := lookup(w.(map[string]any), "matchConditions").([]any)
		for _, c := range conditions {
			c := c.(map[string]any)
			if e, ok := c["expression"].(string); ok {
				c["expression"] = strings.Join(strings.Fields(e), " ")
			}
		}
	}
}

// leaves calls fn with the path and value of every string in v.
func leaves(path string, v any, fn func(path, v string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			leaves(path+"."+k, e, fn)
		}
	case []any:
		for i, e := range v {
			leaves(fmt.Sprintf("%s[%d]", path, i), e, fn)
		}
	case string:
		fn(path, v)
	}
}

// differences lists where want and got differ, by path.
func differences(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var d []string
		keys := sortedKeys(w)
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			d = append(d, differences(path+"."+k, w[k], g[k])...)
		}
		return d
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var d []string
		for i := range w {
			d = append(d, differences(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return d
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s is %s in manifests/, %s in the chart", path, brief(want), brief(got))}
}

func brief(v any) string {
	if v == nil {
		return "absent"
	}
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lookup walks nested maps of a decoded YAML object.
func lookup(o map[string]any, path ...string) any {
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

// appVersion is Chart.yaml's appVersion, the default image tag.
func appVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

// helmPath is $NEO4J_BACKUP_HELM, else the helm hack/tools.sh builds.
func helmPath(ctx context.Context, t *testing.T) string {
	t.Helper()
	if path := os.Getenv("NEO4J_BACKUP_HELM"); path != "" {
		return path
	}
	return filepath.Join(testcluster.ToolDir(ctx, t, "helm"), "helm")
}

// helmCommand runs helm, failing the test it is given when it fails.
func helmCommand(ctx context.Context, t *testing.T) func(t *testing.T, args ...string) string {
	t.Helper()
	path := helmPath(ctx, t)
	return func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}
