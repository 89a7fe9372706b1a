package promtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/internal/promtest"
)

var monitoring = filepath.Join("..", "..", "manifests", "monitoring")

// contractMetrics are the backup series serve exports for issue 12's
// alerts (README "Monitoring"), each labelled namespace and deployment.
var contractMetrics = []string{
	"neo4j_backup_last_success_timestamp_seconds",
	"neo4j_backup_last_failure_timestamp_seconds",
	"neo4j_backup_last_size_bytes",
	"neo4j_backup_last_duration_seconds",
	"neo4j_backup_schedule_interval_seconds",
	"neo4j_backup_scheduled_since_timestamp_seconds",
	"neo4j_backup_missed_schedule",
	"neo4j_backup_suspended",
	"neo4j_backup_last_drill_timestamp_seconds",
	"neo4j_backup_last_drill_success",
	"neo4j_backup_last_drill_duration_seconds",
}

// knownMetrics are the contract's and those the code registers by name
// (webhook/metrics.go's admission counter, the reconciler's gauges).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, m := range contractMetrics {
		known[m] = true
	}
	named := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(neo4j_backup_[a-z0-9_]+)"`)
	for _, pattern := range []string{"webhook/*.go", "backup/*.go"} {
		files, err := filepath.Glob(filepath.Join("..", "..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range named.FindAllStringSubmatch(string(src), -1) {
				known[m[1]] = true
			}
		}
	}
	if !known["neo4j_backup_admission_requests_total"] {
		t.Fatal("webhook/metrics.go no longer names neo4j_backup_admission_requests_total; update the dashboard and this test")
	}
	return known
}

var ourMetric = regexp.MustCompile(`\bneo4j_backup_[a-z0-9_]+`)

// checkNames fails the test for an expression that names no metric of ours,
// or one that serve does not export.
func checkNames(t *testing.T, where, expr string, known map[string]bool) []string {
	t.Helper()
	names := ourMetric.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q names no neo4j_backup_ metric", where, expr)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q names %s, which serve does not export", where, expr, n)
		}
	}
	return names
}

// checkSyntax has promtool parse each expression, as recording rules.
func checkSyntax(t *testing.T, promtool string, exprs []string) {
	t.Helper()
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("expression_%d", i), "expr": e})
	}
	raw, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "expressions", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "expressions.yaml")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := promtest.CheckRules(ctx, promtool, file); err != nil {
		t.Error(err)
	}
}

func TestShippedRules(t *testing.T) {
	promtool := promtest.Promtool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("promtool check rules", func(t *testing.T) {
		if err := promtest.CheckRules(ctx, promtool, rules); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("promtool test rules", func(t *testing.T) {
		tests, err := filepath.Glob(filepath.Join(monitoring, "tests", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(tests) < 5 {
			t.Fatalf("found %d test files in manifests/monitoring/tests, want one per alert", len(tests))
		}
		if err := promtest.TestRules(ctx, promtool, rules, tests...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("every alert says what to do and names only metrics serve exports", func(t *testing.T) {
		raw, err := os.ReadFile(rules)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Spec struct {
				Groups []struct {
					Rules []struct {
						Alert       string            `json:"alert"`
						Expr        string            `json:"expr"`
						For         string            `json:"for"`
						Labels      map[string]string `json:"labels"`
						Annotations map[string]string `json:"annotations"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		known := knownMetrics(t)
		var alerts []string
		for _, g := range doc.Spec.Groups {
			for _, r := range g.Rules {
				alerts = append(alerts, r.Alert)
				if r.For == "" {
					t.Errorf("%s has no for:", r.Alert)
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("%s has severity %q, want warning or critical", r.Alert, s)
				}
				if s := r.Annotations["summary"]; s == "" || strings.Contains(s, "\n") {
					t.Errorf("%s: summary %q, want one line", r.Alert, s)
				}
				if r.Alert == "Neo4jBackupMetricsAbsent" {
					continue
				}
				for _, want := range []string{"kubectl describe namespace {{ $labels.namespace }}", "neo4j-backup status -n {{ $labels.namespace }}"} {
					if !strings.Contains(r.Annotations["description"], want) {
						t.Errorf("%s: description does not say to run %q:\n%s", r.Alert, want, r.Annotations["description"])
					}
				}
				// Several replicas of serve export each series, and a
				// suspended deployment raises nothing (tests/ shows both).
				for _, want := range []string{"max by (namespace, deployment)", "neo4j_backup_suspended"} {
					if !strings.Contains(r.Expr, want) {
						t.Errorf("%s: expression lacks %q:\n%s", r.Alert, want, r.Expr)
					}
				}
				checkNames(t, r.Alert, r.Expr, known)
			}
		}
		for _, want := range []string{"Neo4jBackupTooOld", "Neo4jBackupFailed", "Neo4jBackupMissedSchedule", "Neo4jBackupDrillFailed"} {
			if !slices.Contains(alerts, want) {
				t.Errorf("no alert %s among %v", want, alerts)
			}
		}
	})
}

// grafanaVariables are the dashboard's variables, each with what stands in
// for it when promtool parses an expression.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$deployment", ".*")

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(monitoring, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Panels  []json.RawMessage        `json:"panels"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json is not valid JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("the dashboard needs a uid and a title (Grafana's sidecar replaces a dashboard by uid): %q, %q", dash.UID, dash.Title)
	}

	known := knownMetrics(t)
	var exprs []string
	used := map[string]bool{}
	ids := map[int]string{}
	// A collapsed row holds its panels.
	panels := dash.Panels
	for _, p := range dash.Panels {
		for _, nested := range p.Panels {
			var n panel
			if err := json.Unmarshal(nested, &n); err != nil {
				t.Fatalf("row %q: %v", p.Title, err)
			}
			panels = append(panels, n)
		}
	}
	for _, p := range panels {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		for _, target := range p.Targets {
			for _, n := range checkNames(t, "panel "+p.Title, target.Expr, known) {
				used[n] = true
			}
			exprs = append(exprs, grafanaVariables.Replace(target.Expr))
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*), *[a-z_]+\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(<series>, <label>)", v.Name, v.Definition)
			continue
		}
		checkNames(t, "variable "+v.Name, m[1], known)
		exprs = append(exprs, grafanaVariables.Replace(m[1]))
	}
	// What a person opens the dashboard for (README "Monitoring").
	for _, want := range []string{
		"neo4j_backup_last_success_timestamp_seconds", "neo4j_backup_last_size_bytes", "neo4j_backup_last_duration_seconds",
		"neo4j_backup_last_failure_timestamp_seconds", "neo4j_backup_missed_schedule", "neo4j_backup_last_drill_success",
		"neo4j_backup_admission_requests_total",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	checkSyntax(t, promtest.Promtool(t), exprs)
}
