// Package promtest evaluates the alerting rules of manifests/monitoring with
// promtool, Prometheus's own rule engine, for tests: whether an alert fires
// for the metrics a test scraped from serve, and the rules' unit tests.
//
// promtool is found through NEO4J_BACKUP_PROMTOOL (the binary's path), else
// built once by hack/tools.sh promtool into the cache the other servers of
// the tests live in.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

// EnvPromtool names the promtool binary to use instead of hack/tools.sh's.
const EnvPromtool = "NEO4J_BACKUP_PROMTOOL"

// MetricsJob is the job label Prometheus gives serve's series: the name of
// the Service the ServiceMonitor of manifests/monitoring selects.
const MetricsJob = "neo4j-backup-webhook"

// evaluationInterval is how often the generated tests evaluate the rules,
// Prometheus's default.
const evaluationInterval = time.Minute

var promtool struct {
	once sync.Once
	path string
	err  error
}

// Promtool returns the path of promtool: $NEO4J_BACKUP_PROMTOOL, else the one
// hack/tools.sh promtool builds (minutes the first time, then instant). It
// fails the test, saying how to get one, when neither works.
func Promtool(t testing.TB) string {
	t.Helper()
	promtool.once.Do(func() { promtool.path, promtool.err = findPromtool() })
	if promtool.err != nil {
		t.Fatal(promtool.err)
	}
	return promtool.path
}

func findPromtool() (string, error) {
	howTo := "run hack/tools.sh promtool (it builds promtool once into a cache), or set " + EnvPromtool + " to the path of a promtool binary"
	if path := os.Getenv(EnvPromtool); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %v; %s", EnvPromtool, path, err, howTo)
		}
		return path, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, err := toolcache.Dir(ctx, "promtool")
	if err != nil {
		return "", fmt.Errorf("promtool not found: %v; %s", err, howTo)
	}
	path := filepath.Join(dir, "promtool")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("promtool not found at %s: %v; %s", path, err, howTo)
	}
	return path, nil
}

// ruleGroups is what a Prometheus rules file holds, and a PrometheusRule's spec.
type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string           `json:"name"`
	Rules []map[string]any `json:"rules"`
}

// readRules reads the groups of a PrometheusRule (spec.groups), or of a
// plain Prometheus rules file (groups).
func readRules(file string) ([]ruleGroup, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Kind string     `json:"kind"`
		Spec ruleGroups `json:"spec"`
		ruleGroups
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	groups := doc.Groups
	if doc.Kind == "PrometheusRule" {
		groups = doc.Spec.Groups
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%s holds no rule groups: want a PrometheusRule or a Prometheus rules file", file)
	}
	return groups, nil
}

// WriteRulesFile writes the rule groups of the PrometheusRule (or rules
// file) rulesFile into dir as a Prometheus rules file, rules.yaml, the form
// promtool reads, and returns its path.
func WriteRulesFile(rulesFile, dir string) (string, error) {
	groups, err := readRules(rulesFile)
	if err != nil {
		return "", err
	}
	out, err := yaml.Marshal(ruleGroups{Groups: groups})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "rules.yaml")
	return path, os.WriteFile(path, out, 0o644)
}

// alertFor is the for: of alert in groups.
func alertFor(groups []ruleGroup, alert string) (time.Duration, error) {
	for _, g := range groups {
		for _, r := range g.Rules {
			if r["alert"] != alert {
				continue
			}
			s, _ := r["for"].(string)
			if s == "" {
				return 0, nil
			}
			d, err := model.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("alert %s: for: %w", alert, err)
			}
			return time.Duration(d), nil
		}
	}
	return 0, fmt.Errorf("no alert named %s in the rules", alert)
}

// AlertFires says whether the alert named alert, with those labels (for
// example namespace and deployment), fires for the samples of scraped, the
// text of a scrape of serve's /metrics: evaluated by promtool on the rules
// of rulesFile (the PrometheusRule of manifests/monitoring, or a rules file)
// as if every sample had held its value for the alert's for: (and one
// evaluation more) up to now, with time() now. An up sample of MetricsJob
// is added, as Prometheus records for a scrape that worked.
//
// "Now" matters to rules that compare timestamps with time(): a backup that
// succeeded a minute ago is fresh, one that Prometheus would have seen for
// the whole for: of Neo4jBackupTooOld is as old as it looks at that moment.
func AlertFires(ctx context.Context, promtool, rulesFile string, scraped string, alert string, labels map[string]string) (bool, error) {
	groups, err := readRules(rulesFile)
	if err != nil {
		return false, err
	}
	hold, err := alertFor(groups, alert)
	if err != nil {
		return false, fmt.Errorf("%s: %w", rulesFile, err)
	}
	hold = hold.Truncate(evaluationInterval) + evaluationInterval
	if hold < 2*evaluationInterval {
		hold = 2 * evaluationInterval
	}
	series, err := seriesOf(scraped)
	if err != nil {
		return false, err
	}
	series = append(series, sample{selector: fmt.Sprintf("up{job=%q}", MetricsJob), value: 1})

	dir, err := os.MkdirTemp("", "neo4j-backup-promtest-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if _, err := WriteRulesFile(rulesFile, dir); err != nil {
		return false, err
	}

	selector := []string{fmt.Sprintf("alertname=%q", alert), `alertstate="firing"`}
	for _, k := range sortedKeys(labels) {
		selector = append(selector, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	expr := fmt.Sprintf("count(ALERTS{%s}) or vector(0)", strings.Join(selector, ", "))
	start := time.Now().Add(-hold).Truncate(time.Second)
	// promtool only passes or fails a test: ask both ways, so each answer
	// is one promtool confirmed and anything else is an error.
	var outputs []string
	for _, firing := range []bool{true, false} {
		want := 0
		if firing {
			want = 1
		}
		test := unitTest(start, hold, series, expr, want)
		path := filepath.Join(dir, fmt.Sprintf("test-%d.yaml", want))
		if err := os.WriteFile(path, test, 0o644); err != nil {
			return false, err
		}
		out, err := run(ctx, promtool, "test", "rules", path)
		if err == nil {
			return firing, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		outputs = append(outputs, out)
	}
	return false, fmt.Errorf("promtool could not evaluate alert %s on %s: %s", alert, rulesFile, lastLines(outputs[len(outputs)-1], 20))
}

// unitTest is a promtool test file: series held from start for hold,
// expr evaluated at its end and expected to be want.
func unitTest(start time.Time, hold time.Duration, series []sample, expr string, want int) []byte {
	n := int(hold/evaluationInterval) + 1
	var b bytes.Buffer
	fmt.Fprintf(&b, "rule_files: [rules.yaml]\nevaluation_interval: %s\ntests:\n", model.Duration(evaluationInterval))
	fmt.Fprintf(&b, "- interval: %s\n  start_timestamp: %d\n  input_series:\n", model.Duration(evaluationInterval), start.Unix())
	for _, s := range series {
		values := strings.TrimSpace(strings.Repeat(formatValue(s.value)+" ", n))
		fmt.Fprintf(&b, "  - series: %s\n    values: %s\n", yamlString(s.selector), yamlString(values))
	}
	fmt.Fprintf(&b, "  promql_expr_test:\n  - expr: %s\n    eval_time: %s\n    exp_samples:\n    - labels: '{}'\n      value: %d\n",
		yamlString(expr), model.Duration(hold), want)
	return b.Bytes()
}

// yamlString quotes s for YAML: a JSON string is a YAML string.
func yamlString(s string) string { return strconv.Quote(s) }

// sample is one series of a scrape and its value.
type sample struct {
	selector string // name{label="value",…}
	value    float64
}

// seriesOf reads the Prometheus text format into series, histograms and
// summaries into the series Prometheus stores for them (_bucket, _sum,
// _count; quantiles).
func seriesOf(scraped string) ([]sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(scraped))
	if err != nil {
		return nil, fmt.Errorf("reading the scraped metrics: %w", err)
	}
	var out []sample
	for _, name := range sortedKeys(families) {
		for _, m := range families[name].GetMetric() {
			labels := m.GetLabel()
			switch families[name].GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, sample{selectorOf(name, labels), m.GetCounter().GetValue()})
			case dto.MetricType_GAUGE:
				out = append(out, sample{selectorOf(name, labels), m.GetGauge().GetValue()})
			case dto.MetricType_UNTYPED:
				out = append(out, sample{selectorOf(name, labels), m.GetUntyped().GetValue()})
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out = append(out, sample{selectorOf(name, labels, "quantile", formatValue(q.GetQuantile())), q.GetValue()})
				}
				out = append(out, sample{selectorOf(name+"_sum", labels), s.GetSampleSum()},
					sample{selectorOf(name+"_count", labels), float64(s.GetSampleCount())})
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, bucket := range h.GetBucket() {
					out = append(out, sample{selectorOf(name+"_bucket", labels, "le", formatValue(bucket.GetUpperBound())), float64(bucket.GetCumulativeCount())})
				}
				out = append(out, sample{selectorOf(name+"_sum", labels), h.GetSampleSum()},
					sample{selectorOf(name+"_count", labels), float64(h.GetSampleCount())})
			default:
				return nil, fmt.Errorf("reading the scraped metrics: %s is of type %s, which Prometheus's text format does not carry", name, families[name].GetType())
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the scraped metrics hold no samples")
	}
	return out, nil
}

// selectorOf is a series in promtool's notation, name{label="value",…}.
func selectorOf(name string, labels []*dto.LabelPair, extra ...string) string {
	var pairs []string
	for _, l := range labels {
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
	}
	return name + "{" + strings.Join(pairs, ", ") + "}"
}

// formatValue writes v as the series notation and Prometheus's le and
// quantile labels do.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// run runs promtool with args and returns what it printed.
func run(ctx context.Context, promtool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, promtool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// CheckRules runs promtool check rules on the groups of rulesFile (a
// PrometheusRule or a rules file): the syntax of every expression and
// template.
func CheckRules(ctx context.Context, promtool, rulesFile string) error {
	dir, err := os.MkdirTemp("", "neo4j-backup-promtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rules, err := WriteRulesFile(rulesFile, dir)
	if err != nil {
		return err
	}
	if out, err := run(ctx, promtool, "check", "rules", rules); err != nil {
		return fmt.Errorf("promtool check rules of %s: %v\n%s", rulesFile, err, out)
	}
	return nil
}

// TestRules runs promtool test rules on the unit test files tests, each of
// which names the rules as rule_files: [rules.yaml]: the groups of rulesFile
// (a PrometheusRule or a rules file) are written there beside copies of them.
func TestRules(ctx context.Context, promtool, rulesFile string, tests ...string) error {
	if len(tests) == 0 {
		return errors.New("no promtool test files to run")
	}
	dir, err := os.MkdirTemp("", "neo4j-backup-promtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := WriteRulesFile(rulesFile, dir); err != nil {
		return err
	}
	args := []string{"test", "rules"}
	for _, test := range tests {
		raw, err := os.ReadFile(test)
		if err != nil {
			return err
		}
		copied := filepath.Join(dir, filepath.Base(test))
		if err := os.WriteFile(copied, raw, 0o644); err != nil {
			return err
		}
		args = append(args, copied)
	}
	if out, err := run(ctx, promtool, args...); err != nil {
		return fmt.Errorf("promtool test rules: %v\n%s", err, out)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
