package e2e

import (
	"context"
	"errors"
	"fmt"
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
	"k8s.io/apimachinery/pkg/util/wait"

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
	graph := func(args ...string) []string { return append([]string{"--statefulset", "graph"}, args...) }

	// A time before every backup: one line, exit 1, the StatefulSet as it was.
	before := w.statefulSet("graph")
	code, stdout, stderr := w.restoreCommand("app=graph", graph("--at", "2020-01-01T00:00:00Z")...)
	want := "neo4j-backup restore: there is no complete backup at or before 2020-01-01T00:00:00Z in " + location + " (the oldest complete backup is 2021-11-11T10:00:00Z)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("restore --at before every backup: exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", code, stdout, stderr, want)
	}
	after := w.statefulSet("graph")
	if *after.Spec.Replicas != 2 || after.Generation != before.Generation || !maps.Equal(after.Annotations, before.Annotations) {
		t.Errorf("a failed check changed graph: replicas %d, generation %d→%d, annotations %v→%v",
			*after.Spec.Replicas, before.Generation, after.Generation, before.Annotations, after.Annotations)
	}

	// latest: both pods restore the second backup.
	code, stdout, stderr = w.restoreCommand("app=graph", graph("--at", "latest")...)
	t.Logf("neo4j-backup restore --at latest: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	if code != 0 {
		t.Fatalf("restore --at latest exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	slices.Sort(lines)
	if wantLines := []string{"graph/graph-0: restored 2021-11-12T10:00:00Z", "graph/graph-1: restored 2021-11-12T10:00:00Z"}; !slices.Equal(lines, wantLines) {
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
	w.wantRestoreAnnotation("graph", 2, "2021-11-12T10:00:00Z")

	// Ctrl-C while the pods restore (no kubelet runs them): one line says
	// where graph was left. A time names the older backup; the annotation
	// pins its ID.
	code, stdout, stderr = w.runRestoreCommand("", "waiting for its pods to restore", graph("--at", "2021-11-11T12:00:00Z")...)
	t.Logf("neo4j-backup restore --at 2021-11-11T12:00:00Z, interrupted: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	lastLine := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
	want = "neo4j-backup restore: interrupted: graph is back at 2 replicas and annotated neo4j-backup.io/restore=2021-11-11T10:00:00Z, so its pods restore that backup as they start; `kubectl get pods -n restorecmd` shows them\n"
	if code != 1 || lastLine != want {
		t.Errorf("interrupted: exit %d, last line %q; want exit 1 and %q", code, lastLine, want)
	}
	for _, pod := range []string{"graph-0", "graph-1"} {
		if !strings.Contains(stdout, "graph/"+pod+": still waiting: ") {
			t.Errorf("interrupted: stdout %q does not say %s is still waiting", stdout, pod)
		}
	}
	w.wantRestoreAnnotation("graph", 2, "2021-11-11T10:00:00Z")

	// A corrupted backup: every pod fails with the fetch container's
	// one-line message, the command exits 1, the data stays.
	w.corrupt(location, "2021-11-11T10:00:00Z")
	code, stdout, stderr = w.restoreCommand("app=graph", graph("--at", "2021-11-11T10:00:00Z")...)
	t.Logf("neo4j-backup restore of a corrupted backup: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	if code != 1 || !strings.Contains(stderr, "2 of 2 pods did not restore (graph-0, graph-1)") {
		t.Errorf("corrupted backup: exit %d; want 1 and the error naming both pods", code)
	}
	for _, pod := range []string{"graph-0", "graph-1"} {
		if !strings.Contains(stdout, "graph/"+pod+": failed: neo4j-backup-fetch exited 1: ") || !strings.Contains(stdout, "checksum") {
			t.Errorf("corrupted backup: stdout does not report %s failed on a checksum", pod)
		}
	}
	for claim, dir := range data {
		t.Run(claim+" after a failed restore", func(t *testing.T) { wantStore(t, dir, "second neo4j") })
	}
}

// TestRestoreCommandDeployment restores Neo4j deployment my-cluster, three
// StatefulSets labelled as Neo4j's official chart labels the servers of one
// DBMS, one pod each, with `restore --deployment`, the test playing the
// kubelet. All three must be down before any is annotated: the apiserver's
// own record shows it, read at the revision where the first annotation was
// written. 4.x standalone servers keep the restore procedure simple.
func TestRestoreCommandDeployment(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "restorecmd-deployment", nil)
	const version, cluster = "4.4.40", "helm.neo4j.com/neo4j.name=my-cluster"
	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/my-cluster"
	backup := func(dir string) []string {
		return []string{"backup", "--from=server-1:6362", "--backup-dir=" + dir, "--database=neo4j"}
	}
	w.backup(version, backup, location, "2021-11-11T10:00:00Z", "first")
	w.backup(version, backup, location, "2021-11-12T10:00:00Z", "second")
	servers := []string{"server-1", "server-2", "server-3"}
	data := map[string]string{}
	for _, name := range servers {
		data[name] = t.TempDir()
		w.runner.Claims["data-"+name+"-0"] = data[name]
		w.createServer(name, "neo4j:"+version+"-enterprise", nil, map[string]string{"helm.neo4j.com/neo4j.name": "my-cluster"})
		w.scaleStatefulSet(name, 1)
	}
	// Another Neo4j of the namespace, which the restore leaves alone.
	w.createServer("other", "neo4j:"+version+"-enterprise", nil, nil)
	w.scaleStatefulSet("other", 1)
	w.runner.ReportStatus = true
	w.waitPodsOf(cluster, 3)
	otherPod := w.waitPodsOf("app=other", 1)[0]
	otherBefore := w.statefulSet("other")

	// Mistakes: one line each, nothing changed.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--at", "latest"}, 2, "neo4j-backup restore: --deployment or --statefulset is required: the Neo4j deployment to restore, or the one StatefulSet\n"},
		{[]string{"--deployment", "my-cluster", "--statefulset", "server-1", "--at", "latest"}, 2,
			"neo4j-backup restore: --deployment and --statefulset: give one; --deployment restores all the StatefulSets of a Neo4j deployment together\n"},
		{[]string{"--deployment", "my-clustr", "--at", "latest"}, 1,
			"neo4j-backup restore: there is no Neo4j deployment my-clustr in namespace " + w.ns + ", only my-cluster, other; pass one of them to --deployment\n"},
	} {
		code, stdout, stderr := w.runRestoreCommand("", "", c.args...)
		if code != c.code || stdout != "" || stderr != c.want {
			t.Errorf("restore %s: exit %d, stdout %q, stderr %q; want exit %d and stderr %q", strings.Join(c.args, " "), code, stdout, stderr, c.code, c.want)
		}
	}

	// latest: every pod of the three restores the second backup.
	start := w.statefulSets(cluster, "").ResourceVersion
	code, stdout, stderr := w.restoreCommand(cluster, "--deployment", "my-cluster", "--at", "latest")
	t.Logf("neo4j-backup restore --deployment my-cluster --at latest: exit %d\nstdout:\n%sstderr:\n%s", code, stdout, stderr)
	if code != 0 {
		t.Fatalf("restore --deployment my-cluster --at latest exited %d", code)
	}
	const id = "2021-11-12T10:00:00Z"
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	slices.Sort(lines)
	wantLines := []string{"server-1/server-1-0: restored " + id, "server-2/server-2-0: restored " + id, "server-3/server-3-0: restored " + id}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("restore reported\n%s\nwant\n%s", stdout, strings.Join(wantLines, "\n"))
	}
	wantProgress := []string{
		"Neo4j deployment my-cluster: StatefulSets server-1, server-2 and server-3 (grouped by label helm.neo4j.com/neo4j.name)",
		"backup " + id + " (latest) in " + location + ": neo4j, ",
		"scaling server-1, server-2 and server-3 from 1 replica each to 0 and waiting for their pods to stop",
		"annotating server-1, server-2 and server-3 neo4j-backup.io/restore=" + id,
		"scaling server-1, server-2 and server-3 back to 1 replica each and waiting for their pods to restore",
		"every pod of server-1, server-2 and server-3 has restored backup " + id,
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
	for _, name := range servers {
		t.Run(name, func(t *testing.T) { wantStore(t, data[name], "second neo4j") })
		w.wantRestoreAnnotation(name, 1, id)
	}

	// When the first annotation was written, every StatefulSet of the
	// deployment was at 0 replicas and no pod of any of them existed, even
	// one being deleted: a resource version is the revision of the one etcd
	// that holds pods and StatefulSets alike, so a list at exactly it is
	// the cluster as the annotation found it.
	first := w.firstAnnotated(start, cluster)
	if pods := w.pods(cluster, first.ResourceVersion); len(pods.Items) > 0 {
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		t.Errorf("when %s was annotated, pods %v still existed", first.Name, names)
	}
	annotated := 0
	for _, sts := range w.statefulSets(cluster, first.ResourceVersion).Items {
		if *sts.Spec.Replicas != 0 {
			t.Errorf("when %s was annotated, %s was at %d replicas", first.Name, sts.Name, *sts.Spec.Replicas)
		}
		if sts.Annotations["neo4j-backup.io/restore"] != "" {
			annotated++
		}
	}
	if annotated != 1 {
		t.Errorf("when the first StatefulSet was annotated, %d were; want 1", annotated)
	}

	// The other Neo4j was not touched.
	otherAfter := w.statefulSet("other")
	if otherAfter.Generation != otherBefore.Generation || len(otherAfter.Annotations) != 0 {
		t.Errorf("other changed: generation %d→%d, annotations %v", otherBefore.Generation, otherAfter.Generation, otherAfter.Annotations)
	}
	if pods := w.waitPodsOf("app=other", 1); pods[0].UID != otherPod.UID {
		t.Errorf("the pod of other was replaced")
	}
}

// firstAnnotated is the first version of a StatefulSet matching selector,
// after resource version start, that carries a restore annotation: the
// apiserver's watch replays every change since start in order.
func (w *world) firstAnnotated(start, selector string) *appsv1.StatefulSet {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watcher, err := w.kube.AppsV1().StatefulSets(w.ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: start})
	if err != nil {
		w.t.Fatal(err)
	}
	defer watcher.Stop()
	for ev := range watcher.ResultChan() {
		sts, ok := ev.Object.(*appsv1.StatefulSet)
		if !ok {
			w.t.Fatalf("watching the StatefulSets since resource version %s: %v", start, ev.Object)
		}
		if sts.Annotations["neo4j-backup.io/restore"] != "" {
			return sts
		}
	}
	w.t.Fatalf("no StatefulSet %s was annotated after resource version %s within 30s", selector, start)
	return nil
}

// statefulSets lists those matching selector at resource version rv
// exactly, or now if rv is empty.
func (w *world) statefulSets(selector, rv string) *appsv1.StatefulSetList {
	w.t.Helper()
	list, err := w.kube.AppsV1().StatefulSets(w.ns).List(context.Background(), atVersion(selector, rv))
	if err != nil {
		w.t.Fatal(err)
	}
	return list
}

// pods lists those matching selector at resource version rv exactly.
func (w *world) pods(selector, rv string) *corev1.PodList {
	w.t.Helper()
	list, err := w.kube.CoreV1().Pods(w.ns).List(context.Background(), atVersion(selector, rv))
	if err != nil {
		w.t.Fatal(err)
	}
	return list
}

func atVersion(selector, rv string) metav1.ListOptions {
	o := metav1.ListOptions{LabelSelector: selector}
	if rv != "" {
		o.ResourceVersion, o.ResourceVersionMatch = rv, metav1.ResourceVersionMatchExact
	}
	return o
}

// scaleStatefulSet sets the replicas of StatefulSet name, as kubectl scale
// does.
func (w *world) scaleStatefulSet(name string, n int32) {
	w.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := w.kube.AppsV1().StatefulSets(w.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
		w.t.Fatal(err)
	}
}

// waitPodsOf waits until exactly n pods match selector, none being deleted.
func (w *world) waitPodsOf(selector string, n int) []corev1.Pod {
	w.t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return len(pods) == n, nil
	})
	if err != nil {
		w.t.Fatalf("%d pods match %s after a minute, want %d", len(pods), selector, n)
	}
	return pods
}

// wantRestoreAnnotation checks a StatefulSet's replicas and restore
// annotation, on its metadata and in its pod template.
func (w *world) wantRestoreAnnotation(name string, replicas int32, id string) {
	w.t.Helper()
	sts := w.statefulSet(name)
	if *sts.Spec.Replicas != replicas || sts.Annotations["neo4j-backup.io/restore"] != id || sts.Spec.Template.Annotations["neo4j-backup.io/restore"] != id {
		w.t.Errorf("%s has %d replicas, annotations %v, template annotations %v; want %d and restore=%s on both",
			name, *sts.Spec.Replicas, sts.Annotations, sts.Spec.Template.Annotations, replicas, id)
	}
}

func (w *world) statefulSet(name string) *appsv1.StatefulSet {
	w.t.Helper()
	sts, err := w.kube.AppsV1().StatefulSets(w.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return sts
}

// restoreCommand runs `neo4j-backup restore` with the S3 server's
// credentials and, while it runs, plays the kubelet for the pods it makes
// that match selector pods: every pod that carries a restore gets its init
// containers run, once, and their ends reported to the API.
func (w *world) restoreCommand(pods string, args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	return w.runRestoreCommand(pods, "", args...)
}

// runRestoreCommand runs `neo4j-backup restore` in the world's namespace,
// playing the kubelet for the pods matching selector pods unless it is
// empty, and interrupts it (SIGINT, as Ctrl-C does) once its progress shows
// interruptAt, if that is set.
func (w *world) runRestoreCommand(pods, interruptAt string, args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	cmd := exec.Command(testcluster.Binary(w.t), append([]string{"restore",
		"--kubeconfig", w.cluster.Kubeconfig, "--namespace", w.ns, "--timeout", "1m"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey)
	// Only the pods the command makes are run; those of an earlier run are
	// going away.
	ran := map[types.UID]bool{}
	if pods != "" {
		for _, pod := range w.podsOf(pods) {
			ran[pod.UID] = true
		}
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
			if pods != "" {
				w.runRestoringPods(pods, ran)
			}
		}
	}
}

// runRestoringPods runs, once each, the pods matching selector that carry
// a restore.
func (w *world) runRestoringPods(selector string, ran map[types.UID]bool) {
	w.t.Helper()
	for _, pod := range w.podsOf(selector) {
		if ran[pod.UID] || pod.DeletionTimestamp != nil || pod.Annotations["neo4j-backup.io/restore"] == "" {
			continue
		}
		ran[pod.UID] = true
		if _, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, true); err != nil {
			w.t.Fatalf("running pod %s: %v", pod.Name, err)
		}
	}
}

func (w *world) podsOf(selector string) []corev1.Pod {
	w.t.Helper()
	list, err := w.kube.CoreV1().Pods(w.ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		w.t.Fatal(err)
	}
	return list.Items
}
