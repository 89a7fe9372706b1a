package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/containers"
	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
	"github.com/neo4j-backup/neo4j-backup/internal/promtest"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// TestBackupOutcomeSurvivesRestart runs a scheduled backup that succeeds:
// serve puts a Normal Event BackupSucceeded on the Namespace, related to
// the Job, and exports a last_success as fresh as the run, with its size
// and duration. A serve started afterwards, which saw none of it happen,
// exports the same from its first scrape: the metrics come from the Jobs
// and their pods, not from memory. The cluster is the test's own, since
// its serve is stopped and started again.
func TestBackupOutcomeSurvivesRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t)
	first := c.StartServe(t, "--image", image)
	w := newWorldOn(t, c, "outcome-success", map[string]string{"neo4j-backup.io/schedule": "* * * * *"})
	w.runner.ReportStatus = true
	w.setLive("live", "neo4j", "system")
	w.createStatefulSet("neo4j:2025.06.0-enterprise", nil)

	before := time.Now().Truncate(time.Second)
	pod := w.waitBackupPod()
	results, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, false)
	if err != nil {
		t.Fatalf("running the backup pod: %v", err)
	}
	for _, r := range results {
		if r.ExitCode != 0 {
			t.Fatalf("backup container %s exited %d: %s", r.Name, r.ExitCode, r.Message)
		}
	}
	jobName := pod.Labels[batchv1.JobNameLabel]
	w.waitJob(jobName, batchv1.JobComplete)

	event := w.waitEvent("BackupSucceeded", jobName)
	if event.Type != corev1.EventTypeNormal || !strings.Contains(event.Message, "of Neo4j deployment graph: 2 databases") {
		t.Errorf("Event %s %q; want a Normal one saying the backup of graph's 2 databases", event.Type, event.Message)
	}

	graph := map[string]string{"namespace": w.ns, "deployment": "graph"}
	success := waitMetric(t, first, "neo4j_backup_last_success_timestamp_seconds", graph, func(v float64) bool { return v >= float64(before.Unix()) })
	size := first.Metric(t, "neo4j_backup_last_size_bytes", graph)
	duration := first.Metric(t, "neo4j_backup_last_duration_seconds", graph)
	if size <= 0 || duration <= 0 {
		t.Errorf("last_size_bytes %v, last_duration_seconds %v; want the size and duration of the backup", size, duration)
	}
	if v := first.Metric(t, "neo4j_backup_last_failure_timestamp_seconds", graph); v != 0 {
		t.Errorf("last_failure_timestamp_seconds %v; want none after a success", v)
	}

	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	second := c.StartServe(t, "--image", image)
	for name, want := range map[string]float64{
		"neo4j_backup_last_success_timestamp_seconds": success,
		"neo4j_backup_last_size_bytes":                size,
		"neo4j_backup_last_duration_seconds":          duration,
	} {
		if got := second.Metric(t, name, graph); got != want {
			t.Errorf("after a restart, %s is %v; want %v, as before", name, got, want)
		}
	}
}

// TestBackupFailureOutcome runs scheduled backups that fail: neo4j-admin
// cannot reach the server (it exits 1 and writes nothing), and neo4j-admin
// exits 0 without writing database neo4j (neo4j/neo4j#13107). Each try is
// refused by upload; when the Job has failed for good serve puts a Warning
// Event BackupFailed on the Namespace saying why, exports last_failure, and
// the PrometheusRule's Neo4jBackupFailed fires for the series scraped.
func TestBackupFailureOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, env, reason string
	}{
		{"unreachable", "NEO4J_STANDIN_HOSTS=somewhere-else:6362=neo4j,system", "was not uploaded"},
		{"silent", "NEO4J_STANDIN_SILENT_FAIL=neo4j", "was not uploaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, "outcome-"+tc.name, map[string]string{"neo4j-backup.io/schedule": "* * * * *"})
			w.runner.ReportStatus = true
			w.runner.StandinEnv = append(w.runner.StandinEnv, tc.env)
			w.setLive("live", "neo4j", "system")
			w.createStatefulSet("neo4j:2025.06.0-enterprise", nil)

			before := time.Now().Truncate(time.Second)
			pod := w.waitBackupPod()
			jobName := pod.Labels[batchv1.JobNameLabel]
			w.runUntilFailed(jobName)

			event := w.waitEvent("BackupFailed", jobName)
			if event.Type != corev1.EventTypeWarning || !strings.Contains(event.Message, "of Neo4j deployment graph failed (Job "+jobName+")") ||
				!strings.Contains(event.Message, tc.reason) {
				t.Errorf("Event %s %q; want a Warning saying graph's backup failed and %q", event.Type, event.Message, tc.reason)
			}

			serve := w.cluster.Serve(t)
			graph := map[string]string{"namespace": w.ns, "deployment": "graph"}
			waitMetric(t, serve, "neo4j_backup_last_failure_timestamp_seconds", graph, func(v float64) bool { return v >= float64(before.Unix()) })
			if v := serve.Metric(t, "neo4j_backup_last_success_timestamp_seconds", graph); v != 0 {
				t.Errorf("last_success_timestamp_seconds %v; want none: no backup succeeded", v)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rules := filepath.Join("..", "manifests", "monitoring", "prometheusrule.yaml")
			fires, err := promtest.AlertFires(ctx, promtest.Promtool(t), rules, serve.Scrape(t), "Neo4jBackupFailed", graph)
			if err != nil {
				t.Fatal(err)
			}
			if !fires {
				t.Errorf("Neo4jBackupFailed does not fire for %s/graph on the series serve exports after its backup failed", w.ns)
			}
		})
	}
}

// newWorldOn is newWorld on a cluster of the test's own, whose serve the
// test starts.
func newWorldOn(t *testing.T, c *testcluster.Cluster, ns string, annotations map[string]string) *world {
	w := &world{t: t, cluster: c, kube: c.Kube, ns: ns, s3: s3test.SharedVersitygw(t)}
	dir := t.TempDir()
	w.live, w.adminLog = filepath.Join(dir, "live"), filepath.Join(dir, "neo4j-admin.log")
	all := map[string]string{
		"neo4j-backup.io/destination":        "s3://" + w.s3.Bucket + "/neo4j",
		"neo4j-backup.io/endpoint":           w.s3.Endpoint,
		"neo4j-backup.io/region":             s3test.Region,
		"neo4j-backup.io/credentials-secret": "s3-creds",
	}
	for k, v := range annotations {
		all[k] = v
	}
	ctx := context.Background()
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Annotations: all, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3-creds"},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.runner = &podrunner.Runner{
		Kube: c.Kube, Image: image, Binary: testcluster.Binary(t), StandinDir: testcluster.Standin(t),
		StandinEnv: []string{"NEO4J_STANDIN_LIVE=" + w.live, "NEO4J_STANDIN_LOG=" + w.adminLog},
		Claims:     map[string]string{},
		Log:        &w.podLog,
		Timeout:    time.Minute,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containers run:\n%s", w.podLog.String())
		}
	})
	return w
}

// waitJob waits at most 30 s for the Job to have condition cond.
func (w *world) waitJob(name string, cond batchv1.JobConditionType) *batchv1.Job {
	w.t.Helper()
	var job *batchv1.Job
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		j, err := w.kube.BatchV1().Jobs(w.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		job = j
		return hasCondition(j, cond), nil
	})
	if err != nil {
		w.t.Fatalf("Job %s has no condition %s within 30 s; its status: %+v", name, cond, job.Status)
	}
	return job
}

func hasCondition(job *batchv1.Job, cond batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == cond && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// runUntilFailed runs each pod the job controller makes for the Job, as
// the kubelet would, until the Job has failed for good: its backoffLimit
// of 2 means three pods. Bounded: at most four pods, and three minutes
// (the job controller waits 10 s, then 20 s, before each new pod).
func (w *world) runUntilFailed(jobName string) {
	w.t.Helper()
	ran := map[string]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	for len(ran) < 4 && time.Now().Before(deadline) {
		var next *corev1.Pod
		var failed bool
		err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, time.Until(deadline), true, func(ctx context.Context) (bool, error) {
			job, err := w.kube.BatchV1().Jobs(w.ns).Get(ctx, jobName, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			if failed = hasCondition(job, batchv1.JobFailed); failed {
				return true, nil
			}
			pods, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
			if err != nil {
				return false, nil
			}
			for i := range pods.Items {
				if p := &pods.Items[i]; !ran[p.Name] && p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil {
					next = p
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			break
		}
		if failed {
			return
		}
		ran[next.Name] = true
		results, err := w.runner.Run(context.Background(), next.ObjectMeta, &next.Spec, false)
		if err != nil {
			w.t.Fatalf("running backup pod %s: %v", next.Name, err)
		}
		if last := results[len(results)-1]; last.ExitCode == 0 {
			w.t.Fatalf("backup pod %s succeeded (%s); want it to fail", next.Name, resultNames(results))
		}
	}
	w.t.Fatalf("Job %s has not failed after %d pods ran", jobName, len(ran))
}

// waitEvent waits at most 30 s for an Event of this reason on the
// namespace, related to the Job.
func (w *world) waitEvent(reason, jobName string) corev1.Event {
	w.t.Helper()
	var found *corev1.Event
	selector := "involvedObject.kind=Namespace,involvedObject.name=" + w.ns + ",reason=" + reason
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := w.kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			return false, nil
		}
		for i := range events.Items {
			if e := &events.Items[i]; e.Related != nil && e.Related.Kind == "Job" && e.Related.Name == jobName {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		events, _ := w.kube.CoreV1().Events("").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + w.ns})
		w.t.Fatalf("no Event %s on namespace %s related to Job %s within 30 s; its events: %v", reason, w.ns, jobName, eventMessages(events))
	}
	return *found
}

// waitMetric waits at most 30 s for serve's metric to satisfy ok, and
// returns its value.
func waitMetric(t *testing.T, serve *testcluster.Serve, name string, labels map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	var v float64
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		v = serve.Metric(t, name, labels)
		return ok(v), nil
	})
	if err != nil {
		t.Fatalf("%s%v is %v after 30 s; serve exports:\n%s", name, labels, v, grepLines(serve.Scrape(t), "neo4j_backup_"))
	}
	return v
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDrillOutcome reports restore drills: a drill Job that passed gives a
// Normal Event DrillPassed and last_drill_success 1, one whose report says
// a database is inconsistent a Warning DrillFailed with the reason and
// last_drill_success 0. The drill CronJob, its Jobs and their pods are made
// by the test, the Jobs managed by no controller, with the status and
// termination messages a drill leaves; the CronJob lacks the reconciler's
// label, so the reconciler leaves it alone, while the Jobs carry the labels
// of a drill's.
func TestDrillOutcome(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "outcome-drill", map[string]string{"neo4j-backup.io/schedule": "0 3 1 1 *"})
	w.createStatefulSet("neo4j:2025.06.0-enterprise", nil)
	ctx := context.Background()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := w.kube.BatchV1().CronJobs(w.ns).Get(ctx, "neo4j-backup-graph", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no backup CronJob neo4j-backup-graph within 30 s")
	}
	drill, err := w.kube.BatchV1().CronJobs(w.ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup-verify-graph"},
		Spec: batchv1.CronJobSpec{Schedule: "0 5 1 1 *", Suspend: ptr.To(true), JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: drillPodTemplate()}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	graph := map[string]string{"namespace": w.ns, "deployment": "graph"}
	serve := w.cluster.Serve(t)

	passed := w.finishedDrill(drill, "neo4j-backup-verify-graph-1", true, 0,
		`{"backupId":"2021-11-11T10:00:00Z","passed":true,"databases":["neo4j","system"],"durationSeconds":95}`)
	event := w.waitEvent("DrillPassed", passed)
	if event.Type != corev1.EventTypeNormal || !strings.Contains(event.Message, "restore drill of backup 2021-11-11T10:00:00Z of Neo4j deployment graph passed") {
		t.Errorf("Event %s %q; want a Normal one saying the drill of graph's backup passed", event.Type, event.Message)
	}
	waitMetric(t, serve, "neo4j_backup_last_drill_success", graph, func(v float64) bool { return v == 1 })
	if v := serve.Metric(t, "neo4j_backup_last_drill_duration_seconds", graph); v != 95 {
		t.Errorf("last_drill_duration_seconds %v; want 95, the report's", v)
	}

	failed := w.finishedDrill(drill, "neo4j-backup-verify-graph-2", false, 1,
		`{"backupId":"2021-11-11T10:00:00Z","passed":false,"databases":["neo4j"],"durationSeconds":40,"error":"database neo4j is inconsistent: see the report"}`)
	event = w.waitEvent("DrillFailed", failed)
	if event.Type != corev1.EventTypeWarning || !strings.Contains(event.Message, "database neo4j is inconsistent: see the report") {
		t.Errorf("Event %s %q; want a Warning saying why the drill failed", event.Type, event.Message)
	}
	waitMetric(t, serve, "neo4j_backup_last_drill_success", graph, func(v float64) bool { return v == 0 })
}

func drillPodTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, SecurityContext: containers.PodSecurityContext(),
		Containers: []corev1.Container{{Name: "report", Image: image, Args: []string{"drill"}, SecurityContext: containers.SecurityContext(true)}}}}
}

// finishedDrill makes a Job of the drill CronJob, finished now as ok says,
// with one pod whose report container exited exit with message.
func (w *world) finishedDrill(cj *batchv1.CronJob, name string, ok bool, exit int32, message string) string {
	w.t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app.kubernetes.io/managed-by": "neo4j-backup", "app.kubernetes.io/name": "neo4j-backup",
		"app.kubernetes.io/component": "restore-drill", "neo4j-backup.io/deployment": "graph"}
	job, err := w.kube.BatchV1().Jobs(w.ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
		// Not the job controller's: the status is what the test writes.
		Spec: batchv1.JobSpec{ManagedBy: ptr.To("neo4j-backup.io/e2e"), Template: drillPodTemplate()},
	}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	now := metav1.Now()
	pod, err := w.kube.CoreV1().Pods(w.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-pod", Labels: map[string]string{batchv1.JobNameLabel: name, "app.kubernetes.io/managed-by": "neo4j-backup"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: job.UID, Controller: ptr.To(true)}}},
		Spec: drillPodTemplate().Spec,
	}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if !ok {
		pod.Status.Phase = corev1.PodFailed
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "report", Image: image, ImageID: image, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: message, StartedAt: now, FinishedAt: now}}}}
	if _, err := w.kube.CoreV1().Pods(w.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	job.Status.StartTime = &now
	testcluster.FinishJob(job, ok, now)
	if _, err := w.kube.BatchV1().Jobs(w.ns).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	return name
}
