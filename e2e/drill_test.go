package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
)

// drillOutcome is the report container's termination message.
type drillOutcome struct {
	BackupID  string   `json:"backupId"`
	Passed    bool     `json:"passed"`
	Databases []string `json:"databases"`
	Error     string   `json:"error"`
}

// TestRestoreDrill annotates a namespace with a restore drill: the
// reconciler stamps out neo4j-backup-verify-graph beside the backup
// CronJob, and a Job of it, run by the pod runner, fetches the newest
// backup, restores each database into its scratch volume with the
// stand-in, checks it, and records the result beside the manifest. On a
// good backup it passes; when the stand-in finds database neo4j
// inconsistent it fails naming it; on a backup changed in the store it
// fails at the fetch. `neo4j-backup verify` agrees on the same backups.
func TestRestoreDrill(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		image, version string
		backup         func(dir string) [][]string
		check          string // the neo4j-admin call that checks neo4j
	}{
		{"neo4j:4.4.40-enterprise", "4.4.40", func(dir string) [][]string {
			return [][]string{
				{"backup", "--from=graph.drill-4.svc:6362", "--backup-dir=" + dir, "--database=neo4j"},
				{"backup", "--from=graph.drill-4.svc:6362", "--backup-dir=" + dir, "--database=system"},
			}
		}, "neo4j-admin check-consistency --database=neo4j --report-dir=/backup/reports/neo4j"},
		{"neo4j:5.26.0-enterprise", "5.26.0", func(dir string) [][]string {
			return [][]string{{"database", "backup", "--from=graph.drill-5.svc:6362", "--to-path=" + dir, "neo4j", "system"}}
		}, "neo4j-admin database check --from-path=/backup/stage/neo4j --report-path=/backup/reports/neo4j --max-off-heap-memory=512m neo4j"},
	} {
		t.Run(tt.image, func(t *testing.T) {
			t.Parallel()
			ns := "drill-" + strings.Split(tt.version, ".")[0]
			w := newWorld(t, ns, map[string]string{"neo4j-backup.io/schedule": "0 3 * * *", "neo4j-backup.io/verify-schedule": "0 5 * * 0"})
			location := "s3://" + w.s3.Bucket + "/neo4j/" + ns + "/graph"
			w.setLive("live", "neo4j", "system")
			dir := t.TempDir()
			for _, args := range tt.backup(dir) {
				if out, err := execStandin(t, tt.version, w.live, args...).CombinedOutput(); err != nil {
					t.Fatalf("stand-in backup: %v: %s", err, out)
				}
			}
			const id = "2021-11-11T10:00:00Z"
			if out, err := w.neo4jBackup("upload", "--from", dir, "--to", location, "--id", id, "--databases", "neo4j,system", "--neo4j-version", tt.version); err != nil {
				t.Fatalf("upload: %v: %s", err, out)
			}
			w.createStatefulSet(tt.image, nil)

			// A good backup: the drill passes.
			results := w.runDrill("good")
			if names := resultNames(results); names != "fetch,restore-check,report" {
				t.Fatalf("ran %s, want fetch, restore-check, then report", names)
			}
			for _, r := range results {
				if r.ExitCode != 0 {
					t.Fatalf("drill container %s exited %d: %s", r.Name, r.ExitCode, r.Message)
				}
			}
			outcome := reportOutcome(t, results)
			if !outcome.Passed || outcome.BackupID != id || strings.Join(outcome.Databases, ",") != "neo4j,system" || outcome.Error != "" {
				t.Errorf("DrillOutcome %+v; want backup %s passed for neo4j and system", outcome, id)
			}
			if calls := w.adminCalls(); !contains(calls, tt.check) {
				t.Errorf("neo4j-admin calls %q; want among them %q", calls, tt.check)
			}
			drills := w.drillResults(location, id)
			if len(drills) != 1 || drills[0]["passed"] != true || drills[0]["backupId"] != id {
				t.Fatalf("drill results beside the manifest: %v; want one that passed", drills)
			}
			if out, err := w.neo4jBackup("verify", "--from", location, "--at", "latest"); err != nil || !strings.Contains(out, "backup "+id+": ") || !strings.Contains(out, "every checksum matches") {
				t.Errorf("verify of the good backup: %v: %s", err, out)
			}

			// The stand-in finds neo4j inconsistent: the drill fails, naming it.
			w.runner.StandinEnv = append(w.runner.StandinEnv, "NEO4J_STANDIN_INCONSISTENT=neo4j")
			results = w.runDrill("inconsistent")
			if names := resultNames(results); names != "fetch,restore-check,report" || results[2].ExitCode != 1 {
				t.Fatalf("ran %s, the report exiting %d; want all three, the report exiting 1", names, results[len(results)-1].ExitCode)
			}
			outcome = reportOutcome(t, results)
			if outcome.Passed || outcome.BackupID != id || !strings.Contains(outcome.Error, "database neo4j is inconsistent") || strings.Contains(outcome.Error, "database system") {
				t.Errorf("DrillOutcome %+v; want backup %s failed for database neo4j only", outcome, id)
			}
			drills = w.drillResults(location, id)
			if len(drills) != 2 || drills[1]["passed"] != false {
				t.Fatalf("drill results beside the manifest: %v; want the failed one after the passed one", drills)
			}

			// The backup changed in the store: verify and the drill's fetch refuse it.
			w.corruptFile(location, id)
			if out, err := w.neo4jBackup("verify", "--from", location, "--at", id); err == nil || !strings.Contains(out, "checksum mismatch") || strings.Count(strings.TrimSpace(out), "\n") > 1 {
				t.Errorf("verify of the changed backup: %v: %s; want exit 1 with the mismatch", err, out)
			}
			results = w.runDrill("changed")
			outcome = reportOutcome(t, results)
			if results[len(results)-1].ExitCode != 1 || outcome.Passed || !strings.Contains(outcome.Error, "could not be fetched") || !strings.Contains(outcome.Error, "checksum mismatch") {
				t.Errorf("drill of a changed backup: report exited %d, outcome %+v; want a failure at the fetch", results[len(results)-1].ExitCode, outcome)
			}
		})
	}
}

// runDrill makes a Job of the drill CronJob, as `kubectl create job
// --from=cronjob/neo4j-backup-verify-graph` does, and runs its pod.
func (w *world) runDrill(name string) []podrunner.Result {
	w.t.Helper()
	ctx := context.Background()
	var cj *batchv1.CronJob
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		cj, err = w.kube.BatchV1().CronJobs(w.ns).Get(ctx, "neo4j-backup-verify-graph", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		w.t.Fatalf("no drill CronJob neo4j-backup-verify-graph within 30 s")
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "drill-" + name, Labels: cj.Spec.JobTemplate.Labels}, Spec: cj.Spec.JobTemplate.Spec}
	if _, err := w.kube.BatchV1().Jobs(w.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	var pod *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job.Name})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		w.t.Fatalf("no pod of Job %s within 60 s", job.Name)
	}
	if pod.Labels["app.kubernetes.io/component"] != "restore-drill" || pod.Labels["neo4j-backup.io/deployment"] != "graph" {
		w.t.Errorf("drill pod labels %v; want component restore-drill, deployment graph", pod.Labels)
	}
	results, err := w.runner.Run(ctx, pod.ObjectMeta, &pod.Spec, false)
	if err != nil {
		w.t.Fatalf("running the drill pod: %v", err)
	}
	return results
}

func reportOutcome(t *testing.T, results []podrunner.Result) drillOutcome {
	t.Helper()
	last := results[len(results)-1]
	if last.Name != "report" {
		t.Fatalf("the last container run is %s (exit %d: %s), not report", last.Name, last.ExitCode, last.Message)
	}
	var o drillOutcome
	if err := json.Unmarshal([]byte(last.Message), &o); err != nil {
		t.Fatalf("report's termination message %q: %v", last.Message, err)
	}
	return o
}

// drillResults reads the drill results beside backup id's manifest, oldest first.
func (w *world) drillResults(location, id string) []map[string]any {
	w.t.Helper()
	ctx := context.Background()
	prefix := strings.TrimPrefix(location, "s3://"+w.s3.Bucket+"/") + "/" + id + "/drills/"
	var out []map[string]any
	for obj := range w.s3.Client().ListObjects(ctx, w.s3.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			w.t.Fatal(obj.Err)
		}
		r, err := w.s3.Client().GetObject(ctx, w.s3.Bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		var m map[string]any
		if err != nil || json.Unmarshal(b, &m) != nil {
			w.t.Fatalf("drill result %s: %q (%v)", obj.Key, b, err)
		}
		out = append(out, m)
	}
	return out
}

// corruptFile overwrites a file of backup id, one its manifest lists (not a
// drill result), with as many other bytes.
func (w *world) corruptFile(location, id string) {
	w.t.Helper()
	prefix := strings.TrimPrefix(location, "s3://"+w.s3.Bucket+"/") + "/" + id + "/"
	ctx := context.Background()
	for obj := range w.s3.Client().ListObjects(ctx, w.s3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			w.t.Fatal(obj.Err)
		}
		if rel := strings.TrimPrefix(obj.Key, prefix); rel == "manifest.json" || strings.HasPrefix(rel, "drills/") {
			continue
		}
		junk := bytes.Repeat([]byte("x"), int(obj.Size))
		if _, err := w.s3.Client().PutObject(ctx, w.s3.Bucket, obj.Key, bytes.NewReader(junk), int64(len(junk)), minio.PutObjectOptions{}); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	w.t.Fatalf("no file of backup %s under %s to corrupt", id, prefix)
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
