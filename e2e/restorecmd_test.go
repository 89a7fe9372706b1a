package e2e

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// TestRestoreCommand runs `neo4j-backup restore` against a StatefulSet of
// two pods while the test plays the kubelet: it runs each pod the
// statefulset controller creates and reports its init containers' ends to
// the API, where the command reads them. The command finds the store from
// the Namespace's annotations; it gets only the credentials from the
// environment.
func TestRestoreCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "restorecmd", nil)
	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/graph"
	backup := func(dir string) []string {
		return []string{"database", "backup", "--from=core-0:6362", "--to-path=" + dir, "neo4j"}
	}
	w.backup("5.26.0", backup, location, "2021-11-11T10:00:00Z", "first")
	w.backup("5.26.0", backup, location, "2021-11-12T10:00:00Z", "second")
	data := map[string]string{"data-graph-0": t.TempDir(), "data-graph-1": t.TempDir()}
	maps.Copy(w.runner.Claims, data)
	w.runner.ReportStatus = true
	w.createStatefulSet("neo4j:5.26.0-enterprise", nil)
	w.scale(2)
	w.waitPods(2)

	// A time before every backup: one line, exit 1, the StatefulSet as it was.
	before := w.statefulSet()
	code, stdout, stderr := w.restoreCommand("--at", "2020-01-01T00:00:00Z")
	want := "neo4j-backup restore: there is no complete backup at or before 2020-01-01T00:00:00Z in " + location + " (the oldest complete backup is 2021-11-11T10:00:00Z)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("restore --at before every backup: exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", code, stdout, stderr, want)
	}
	after := w.statefulSet()
	if *after.Spec.Replicas != 2 || after.Generation != before.Generation || !maps.Equal(after.Annotations, before.Annotations) {
		t.Errorf("a failed check changed graph: replicas %d, generation %d→%d, annotations %v→%v",
			*after.Spec.Replicas, before.Generation, after.Generation, before.Annotations, after.Annotations)
	}

	// latest: both pods restore the second backup.
	code, stdout, stderr = w.restoreCommand("--at", "latest")
	t.Logf("neo4j-backup restore --at latest: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	if code != 0 {
		t.Fatalf("restore --at latest exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	slices.Sort(lines)
	if wantLines := []string{"graph-0: restored 2021-11-12T10:00:00Z", "graph-1: restored 2021-11-12T10:00:00Z"}; !slices.Equal(lines, wantLines) {
		t.Errorf("restore reported\n%s\nwant\n%s", stdout, strings.Join(wantLines, "\n"))
	}
	wantProgress := []string{
		"backup 2021-11-12T10:00:00Z (latest) in " + location + ": neo4j, ",
		"scaling graph from 2 replicas to 0 and waiting for its pods to stop",
		"annotating graph neo4j-backup.io/restore=2021-11-12T10:00:00Z",
		"scaling graph back to 2 replicas and waiting for its pods to restore",
		"every pod of graph has restored backup 2021-11-12T10:00:00Z",
	}
	progress := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(progress) != len(wantProgress) {
		t.Errorf("progress has %d lines, want %d", len(progress), len(wantProgress))
	}
	for i := range min(len(progress), len(wantProgress)) {
		if !strings.HasPrefix(progress[i], wantProgress[i]) {
			t.Errorf("progress line %d is %q, want it to start %q", i+1, progress[i], wantProgress[i])
		}
	}
	for claim, dir := range data {
		t.Run(claim, func(t *testing.T) { wantStore(t, dir, "second neo4j") })
	}
	w.wantRestoreAnnotation(2, "2021-11-12T10:00:00Z")

	// Ctrl-C while the pods restore (no kubelet runs them): one line says
	// where graph was left. A time names the older backup; the annotation
	// pins its ID.
	code, stdout, stderr = w.runRestoreCommand(false, "waiting for its pods to restore", "--at", "2021-11-11T12:00:00Z")
	t.Logf("neo4j-backup restore --at 2021-11-11T12:00:00Z, interrupted: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	lastLine := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
	want = "neo4j-backup restore: interrupted: graph is back at 2 replicas and annotated neo4j-backup.io/restore=2021-11-11T10:00:00Z, so its pods restore that backup as they start; `kubectl get pods -n restorecmd` shows them\n"
	if code != 1 || lastLine != want {
		t.Errorf("interrupted: exit %d, last line %q; want exit 1 and %q", code, lastLine, want)
	}
	for _, pod := range []string{"graph-0", "graph-1"} {
		if !strings.Contains(stdout, pod+": still waiting: ") {
			t.Errorf("interrupted: stdout %q does not say %s is still waiting", stdout, pod)
		}
	}
	w.wantRestoreAnnotation(2, "2021-11-11T10:00:00Z")

	// A corrupted backup: every pod fails with the fetch container's
	// one-line message, the command exits 1, the data stays.
	w.corrupt(location, "2021-11-11T10:00:00Z")
	code, stdout, stderr = w.restoreCommand("--at", "2021-11-11T10:00:00Z")
	t.Logf("neo4j-backup restore of a corrupted backup: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	if code != 1 || !strings.Contains(stderr, "2 of 2 pods did not restore (graph-0, graph-1)") {
		t.Errorf("corrupted backup: exit %d; want 1 and the error naming both pods", code)
	}
	for _, pod := range []string{"graph-0", "graph-1"} {
		if !strings.Contains(stdout, pod+": failed: neo4j-backup-fetch exited 1: ") || !strings.Contains(stdout, "checksum") {
			t.Errorf("corrupted backup: stdout does not report %s failed on a checksum", pod)
		}
	}
	for claim, dir := range data {
		t.Run(claim+" after a failed restore", func(t *testing.T) { wantStore(t, dir, "second neo4j") })
	}
}

// wantRestoreAnnotation checks graph's replicas and restore annotation, on
// its metadata and in its pod template.
func (w *world) wantRestoreAnnotation(replicas int32, id string) {
	w.t.Helper()
	sts := w.statefulSet()
	if *sts.Spec.Replicas != replicas || sts.Annotations["neo4j-backup.io/restore"] != id || sts.Spec.Template.Annotations["neo4j-backup.io/restore"] != id {
		w.t.Errorf("graph has %d replicas, annotations %v, template annotations %v; want %d and restore=%s on both",
			*sts.Spec.Replicas, sts.Annotations, sts.Spec.Template.Annotations, replicas, id)
	}
}

func (w *world) statefulSet() *appsv1.StatefulSet {
	w.t.Helper()
	sts, err := w.kube.AppsV1().StatefulSets(w.ns).Get(context.Background(), "graph", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return sts
}

// restoreCommand runs `neo4j-backup restore` on graph with the S3 server's
// credentials and, while it runs, plays the kubelet for the pods it makes:
// every pod that carries a restore gets its init containers run, once, and
// their ends reported to the API.
func (w *world) restoreCommand(args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	return w.runRestoreCommand(true, "", args...)
}

// runRestoreCommand runs `neo4j-backup restore`, playing the kubelet if
// kubelet is set, and interrupts it (SIGINT, as Ctrl-C does) once its
// progress shows interruptAt, if that is set.
func (w *world) runRestoreCommand(kubelet bool, interruptAt string, args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	cmd := exec.Command(testcluster.Binary(w.t), append([]string{"restore",
		"--kubeconfig", w.cluster.Kubeconfig, "--namespace", w.ns, "--statefulset", "graph", "--timeout", "1m"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey)
	// Only the pods the command makes are run; those of an earlier run are
	// going away.
	ran := map[types.UID]bool{}
	for _, pod := range w.graphPods() {
		ran[pod.UID] = true
	}
	out, errOut := &testcluster.SyncBuffer{}, &testcluster.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill() })

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(90 * time.Second)
	for {
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				w.t.Fatal(err)
			}
			return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
		case <-giveUp:
			w.t.Fatalf("neo4j-backup restore still runs after 90s\nstdout:\n%sstderr:\n%s", out.String(), errOut.String())
		case <-tick.C:
			if interruptAt != "" && strings.Contains(errOut.String(), interruptAt) {
				_ = cmd.Process.Signal(os.Interrupt)
				interruptAt = ""
			}
			if kubelet {
				w.runRestoringPods(ran)
			}
		}
	}
}

// runRestoringPods runs, once each, graph's pods that carry a restore.
func (w *world) runRestoringPods(ran map[types.UID]bool) {
	w.t.Helper()
	for _, pod := range w.graphPods() {
		if ran[pod.UID] || pod.DeletionTimestamp != nil || pod.Annotations["neo4j-backup.io/restore"] == "" {
			continue
		}
		ran[pod.UID] = true
		if _, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, true); err != nil {
			w.t.Fatalf("running pod %s: %v", pod.Name, err)
		}
	}
}

func (w *world) graphPods() []corev1.Pod {
	w.t.Helper()
	list, err := w.kube.CoreV1().Pods(w.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=graph"})
	if err != nil {
		w.t.Fatal(err)
	}
	return list.Items
}
