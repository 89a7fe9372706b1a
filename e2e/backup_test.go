package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
)

// TestScheduledBackupRoundTrip annotates a namespace with a schedule of
// every minute: the reconciler stamps out the CronJob, the real cronjob
// controller starts a Job, the job controller its pod, and the pod runner
// runs it: the stand-in neo4j-admin backs the live server up and the upload
// container puts it in S3 with its manifest. Then that backup is restored
// into a new pod through the webhook and must equal the live server.
func TestScheduledBackupRoundTrip(t *testing.T) {
	t.Parallel()
	for _, image := range []string{"neo4j:4.4.40-enterprise", "neo4j:2025.06.0-enterprise"} {
		t.Run(image, func(t *testing.T) {
			t.Parallel()
			ns := "backup-" + strings.Split(strings.TrimPrefix(image, "neo4j:"), ".")[0]
			w := newWorld(t, ns, map[string]string{"neo4j-backup.io/schedule": "* * * * *", "neo4j-backup.io/keep": "5"})
			w.setLive("live "+image, "neo4j", "system")
			w.createStatefulSet(image, nil)

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
			want := "neo4j-admin-backup,upload"
			if !strings.HasPrefix(image, "neo4j:4.") {
				want = "backup-plan," + want // 5.x and calendar versions plan full or differential first
			}
			if names := resultNames(results); names != want {
				t.Fatalf("ran %s, want %s", names, want)
			}

			location := "s3://" + w.s3.Bucket + "/neo4j/" + ns + "/graph"
			listed := w.list(location)
			if len(listed) != 1 || listed[0].Status != "complete" || strings.Join(listed[0].Databases, ",") != "neo4j,system" {
				t.Fatalf("after the scheduled backup the store lists %+v; want one complete backup of neo4j and system", listed)
			}

			data := t.TempDir()
			w.runner.Claims["data-graph-0"] = data
			w.setLive("changed after the backup", "neo4j", "system")
			restored := w.restore("latest")
			w.runPod(restored, true, "")
			wantStore(t, data, "live "+image+" neo4j")
		})
	}
}

// TestSilentFailureLeavesNoBackup runs a scheduled backup of a cluster of
// three servers (the official chart's shape: one StatefulSet each, grouped
// by helm.neo4j.com/neo4j.name) whose neo4j-admin exits 0 without backing
// up database neo4j, as neo4j/neo4j#13107 reports: the run must fail, S3
// must hold nothing of it, and latest must still be the good backup.
func TestSilentFailureLeavesNoBackup(t *testing.T) {
	t.Parallel()
	const image, version, good = "neo4j:2025.06.0-enterprise", "2025.06.0", "2021-11-11T10:00:00Z"
	w := newWorld(t, "silent-failure", map[string]string{"neo4j-backup.io/schedule": "* * * * *", "neo4j-backup.io/keep": "1"})
	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/my-cluster"
	w.setLive("good", "neo4j", "system")
	dir := t.TempDir()
	if out, err := execStandin(t, version, w.live, "database", "backup", "--from=server-1-admin:6362", "--to-path="+dir, "neo4j", "system").CombinedOutput(); err != nil {
		t.Fatalf("stand-in backup: %v: %s", err, out)
	}
	if out, err := w.neo4jBackup("upload", "--from", dir, "--to", location, "--id", good, "--databases", "neo4j,system"); err != nil {
		t.Fatalf("upload: %v: %s", err, out)
	}
	w.adminCalls()

	w.setLive("live", "neo4j", "system")
	for _, name := range []string{"server-1", "server-2", "server-3"} {
		w.createServer(name, image, nil, map[string]string{"helm.neo4j.com/neo4j.name": "my-cluster"})
	}
	w.runner.StandinEnv = append(w.runner.StandinEnv, "NEO4J_STANDIN_SILENT_FAIL=neo4j")
	pod := w.waitBackupPod()
	if pod.Labels[batchv1.JobNameLabel] == "" || !strings.HasPrefix(pod.Labels[batchv1.JobNameLabel], "neo4j-backup-my-cluster-") {
		t.Fatalf("the backup pod belongs to Job %q; want one of CronJob neo4j-backup-my-cluster", pod.Labels[batchv1.JobNameLabel])
	}
	results, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, false)
	if err != nil {
		t.Fatalf("running the backup pod: %v", err)
	}
	if names := resultNames(results); names != "backup-plan,neo4j-admin-backup,upload" {
		t.Fatalf("ran %s, want backup-plan, neo4j-admin-backup then upload", names)
	}
	if results[1].ExitCode != 0 {
		t.Fatalf("neo4j-admin-backup exited %d (%s); it records neo4j-admin's exit code and leaves the verdict to upload", results[1].ExitCode, results[1].Message)
	}
	if r := results[2]; r.ExitCode != 1 || !strings.Contains(r.Message, "neo4j") || !strings.Contains(r.Message, "was not uploaded") {
		t.Fatalf("upload exited %d with %q; want 1 and a line saying database neo4j's backup is missing", r.ExitCode, r.Message)
	}

	// One neo4j-admin backup call, asking all three servers (and the
	// --inspect-path of the folder after it).
	calls := slices.DeleteFunc(w.adminCalls(), func(c string) bool { return strings.Contains(c, "--inspect-path=") })
	if len(calls) != 1 || !strings.Contains(calls[0], "server-1") || !strings.Contains(calls[0], "server-2") || !strings.Contains(calls[0], "server-3") {
		t.Errorf("neo4j-admin was called\n%s\nwant one backup call from server-1, server-2 and server-3", strings.Join(calls, "\n"))
	}

	listed := w.list(location)
	if len(listed) != 1 || listed[0].ID != good || listed[0].Status != "complete" {
		t.Fatalf("after the failed run the store lists %+v; want only the good backup %s, complete", listed, good)
	}
	fetched := t.TempDir()
	if out, err := w.neo4jBackup("fetch", "--from", location, "--at", "latest", "--to", fetched); err != nil || !strings.Contains(out, good) {
		t.Fatalf("fetch --at latest: %v: %s; want backup %s", err, out, good)
	}
}

// waitBackupPod waits for the CronJob, for the Job the cronjob controller
// starts from it (within its first minute), and for the Job's pod.
func (w *world) waitBackupPod() *corev1.Pod {
	w.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 150*time.Second, true, func(ctx context.Context) (bool, error) {
		jobs, err := w.kube.BatchV1().Jobs(w.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) == 0 {
			return false, nil
		}
		pods, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobs.Items[0].Name})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		cronJob, cjErr := w.kube.BatchV1().CronJobs(w.ns).Get(context.Background(), "neo4j-backup-graph", metav1.GetOptions{})
		events, _ := w.kube.CoreV1().Events("").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + w.ns})
		w.t.Fatalf("no backup pod within 150 s; CronJob: %v (%v); namespace events: %v", cronJob.Status, cjErr, eventMessages(events))
	}
	return pod
}

func eventMessages(events *corev1.EventList) []string {
	var out []string
	if events != nil {
		for _, e := range events.Items {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func resultNames(results []podrunner.Result) string {
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
	}
	return strings.Join(names, ",")
}
