package promtest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/internal/promtest"
)

// rules is the PrometheusRule that ships in manifests/monitoring.
var rules = filepath.Join("..", "..", "manifests", "monitoring", "prometheusrule.yaml")

// scrape is a /metrics text of serve with the backup series of one
// deployment, shop/graph, filled in by the case, and series of other types
// beside them, as serve exports them.
func scrape(backupSeries string) string {
	return `# HELP neo4j_backup_admission_requests_total Admission requests handled.
# TYPE neo4j_backup_admission_requests_total counter
neo4j_backup_admission_requests_total{outcome="injected",webhook="pod"} 3
# HELP controller_runtime_webhook_latency_seconds Histogram of the latency of processing admission requests
# TYPE controller_runtime_webhook_latency_seconds histogram
controller_runtime_webhook_latency_seconds_bucket{webhook="/mutate-v1-pod",le="0.005"} 1
controller_runtime_webhook_latency_seconds_bucket{webhook="/mutate-v1-pod",le="+Inf"} 3
controller_runtime_webhook_latency_seconds_sum{webhook="/mutate-v1-pod"} 0.2
controller_runtime_webhook_latency_seconds_count{webhook="/mutate-v1-pod"} 3
# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 1.5e-05
go_gc_duration_seconds{quantile="1"} 0.0003
go_gc_duration_seconds_sum 0.001
go_gc_duration_seconds_count 7
` + backupSeries
}

// deployment writes the gauges of one deployment, each "name value".
func deployment(ns, name string, gauges ...string) string {
	var b strings.Builder
	for _, g := range gauges {
		metric, value, _ := strings.Cut(g, " ")
		fmt.Fprintf(&b, "%s{deployment=%q,namespace=%q} %s\n", metric, name, ns, value)
	}
	return b.String()
}

func TestAlertFires(t *testing.T) {
	promtool := promtest.Promtool(t)
	now := time.Now().Unix()
	ago := func(d time.Duration) string { return fmt.Sprint(now - int64(d/time.Second)) }
	daily := "neo4j_backup_schedule_interval_seconds 86400"
	graph := map[string]string{"namespace": "shop", "deployment": "graph"}

	for _, tc := range []struct {
		name    string
		metrics string
		alert   string
		labels  map[string]string
		fires   bool
	}{{
		name: "a failure and never a success",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0", "neo4j_backup_missed_schedule 0",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(time.Hour),
			"neo4j_backup_last_failure_timestamp_seconds "+ago(time.Minute)),
		alert: "Neo4jBackupFailed", labels: graph, fires: true,
	}, {
		name: "a failure of another deployment",
		metrics: deployment("shop", "other", daily, "neo4j_backup_suspended 0",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(time.Hour),
			"neo4j_backup_last_failure_timestamp_seconds "+ago(time.Minute)) +
			deployment("shop", "graph", daily, "neo4j_backup_suspended 0",
				"neo4j_backup_scheduled_since_timestamp_seconds "+ago(time.Hour),
				"neo4j_backup_last_success_timestamp_seconds "+ago(time.Minute)),
		alert: "Neo4jBackupFailed", labels: graph, fires: false,
	}, {
		name: "a success after a failure",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(time.Hour),
			"neo4j_backup_last_failure_timestamp_seconds "+ago(30*time.Minute),
			"neo4j_backup_last_success_timestamp_seconds "+ago(time.Minute)),
		alert: "Neo4jBackupFailed", labels: graph, fires: false,
	}, {
		name: "a fresh success is not too old",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(72*time.Hour),
			"neo4j_backup_last_success_timestamp_seconds "+ago(time.Minute)),
		alert: "Neo4jBackupTooOld", labels: graph, fires: false,
	}, {
		name: "no success in the three days since the CronJob was made",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(72*time.Hour)),
		alert: "Neo4jBackupTooOld", labels: graph, fires: true,
	}, {
		name: "the same while suspended",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 1",
			"neo4j_backup_scheduled_since_timestamp_seconds "+ago(72*time.Hour)),
		alert: "Neo4jBackupTooOld", labels: graph, fires: false,
	}, {
		name: "a failed drill",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0",
			"neo4j_backup_last_drill_success 0", "neo4j_backup_last_drill_timestamp_seconds "+ago(time.Minute)),
		alert: "Neo4jBackupDrillFailed", labels: graph, fires: true,
	}, {
		name:    "serve's metrics were scraped",
		metrics: deployment("shop", "graph", daily, "neo4j_backup_suspended 0"),
		alert:   "Neo4jBackupMetricsAbsent", labels: nil, fires: false,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			fires, err := promtest.AlertFires(ctx, promtool, rules, scrape(tc.metrics), tc.alert, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if fires != tc.fires {
				t.Errorf("%s fires = %v, want %v, for:\n%s", tc.alert, fires, tc.fires, tc.metrics)
			}
		})
	}
}

func TestAlertFiresErrors(t *testing.T) {
	promtool := promtest.Promtool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	good := scrape(deployment("shop", "graph", "neo4j_backup_suspended 0"))
	for _, tc := range []struct {
		name, rules, scraped, alert, want string
	}{
		{"an alert the rules lack", rules, good, "Neo4jBackupTooNew", "no alert named Neo4jBackupTooNew"},
		{"a scrape that is not the text format", rules, "neo4j_backup_suspended{", "Neo4jBackupTooOld", "reading the scraped metrics"},
		{"a scrape without samples", rules, "# HELP x y\n", "Neo4jBackupTooOld", "no samples"},
		{"a file without rules", filepath.Join("..", "..", "manifests", "monitoring", "servicemonitor.yaml"), good, "Neo4jBackupTooOld", "holds no rule groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := promtest.AlertFires(ctx, promtool, tc.rules, tc.scraped, tc.alert, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
