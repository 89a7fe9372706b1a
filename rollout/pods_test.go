package rollout

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const backupID = "2021-11-12T10:00:00Z"

// pod is graph-0 as the webhook injects it for backupID, with the given
// init container statuses.
func pod(statuses ...corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "graph-0", Namespace: "db", Annotations: map[string]string{"neo4j-backup.io/restore": backupID}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "neo4j-backup-fetch"}, {Name: "neo4j-backup-restore"}},
			Containers:     []corev1.Container{{Name: "neo4j"}},
		},
		Status: corev1.PodStatus{InitContainerStatuses: statuses},
	}
}

func terminated(name string, code int32, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: message}}}
}

func waitingFor(name, reason, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
}

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func TestPodResult(t *testing.T) {
	done := terminated("neo4j-backup-fetch", 0, "")
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no pod", nil, "graph-0: still waiting: no pod yet"},
		{"being deleted", func() *corev1.Pod { p := pod(); p.DeletionTimestamp = &metav1.Time{}; return p }(),
			"graph-0: still waiting: the pod is being deleted"},
		{"another restore", func() *corev1.Pod { p := pod(); p.Annotations["neo4j-backup.io/restore"] = "latest"; return p }(),
			`graph-0: failed: the pod carries neo4j-backup.io/restore="latest", not 2021-11-12T10:00:00Z: it was made from another revision of the pod template (does the StatefulSet's rollingUpdate set a partition?)`},
		{"not injected", func() *corev1.Pod { p := pod(); p.Spec.InitContainers = nil; return p }(),
			"graph-0: failed: the pod has no neo4j-backup-fetch init container: the restore webhook did not inject it; check that neo4j-backup serve is running"},
		{"not scheduled", func() *corev1.Pod {
			p := pod()
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/3 nodes are available:\n3 Insufficient memory."}}
			return p
		}(), "graph-0: still waiting: the pod is not scheduled: 0/3 nodes are available: 3 Insufficient memory."},
		{"not started", pod(), "graph-0: still waiting: neo4j-backup-fetch has not started"},
		{"initializing", pod(waitingFor("neo4j-backup-fetch", "PodInitializing", "")), "graph-0: still waiting: neo4j-backup-fetch has not started"},
		{"image not pulled", pod(waitingFor("neo4j-backup-fetch", "ImagePullBackOff", "Back-off pulling image")),
			"graph-0: still waiting: neo4j-backup-fetch is waiting: ImagePullBackOff Back-off pulling image"},
		{"fetching", pod(running("neo4j-backup-fetch")), "graph-0: still waiting: neo4j-backup-fetch is running"},
		{"fetch failed", pod(terminated("neo4j-backup-fetch", 1, "fetching 10 MiB\nneo4j-backup fetch: checksum mismatch\n")),
			"graph-0: failed: neo4j-backup-fetch exited 1: neo4j-backup fetch: checksum mismatch"},
		{"fetch failed before", pod(func() corev1.ContainerStatus {
			st := waitingFor("neo4j-backup-fetch", "CrashLoopBackOff", "back-off 10s")
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Message: "neo4j-backup fetch: cannot reach the object store"}
			return st
		}()), "graph-0: failed: neo4j-backup-fetch exited 1: neo4j-backup fetch: cannot reach the object store (the kubelet retries it)"},
		{"fetch failed, retried and done", pod(func() corev1.ContainerStatus {
			st := terminated("neo4j-backup-fetch", 0, "")
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Message: "neo4j-backup fetch: cannot reach the object store"}
			return st
		}(), terminated("neo4j-backup-restore", 0, "")), "graph-0: restored 2021-11-12T10:00:00Z"},
		{"failed without a message", pod(terminated("neo4j-backup-fetch", 137, "")),
			"graph-0: failed: neo4j-backup-fetch exited 137: Error, without a message; kubectl logs graph-0 -c neo4j-backup-fetch -n db shows its output"},
		{"restoring", pod(done, running("neo4j-backup-restore")), "graph-0: still waiting: neo4j-backup-restore is running"},
		{"restore failed", pod(done, terminated("neo4j-backup-restore", 1, "neo4j-backup restore-staged: neo4j-admin failed")),
			"graph-0: failed: neo4j-backup-restore exited 1: neo4j-backup restore-staged: neo4j-admin failed"},
		{"restored", pod(done, terminated("neo4j-backup-restore", 0, "")), "graph-0: restored 2021-11-12T10:00:00Z"},
		{"fetched only", func() *corev1.Pod { p := pod(done); p.Spec.InitContainers = p.Spec.InitContainers[:1]; return p }(),
			"graph-0: fetched 2021-11-12T10:00:00Z into /plugins/neo4j-backup; restore-mode is fetch, so restoring it is left to you"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := podResult("", "graph-0", c.pod, backupID).String(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// In the report, a pod is named with its StatefulSet, so the pods of a
// deployment's StatefulSets read apart.
func TestPodResultString(t *testing.T) {
	got := podResult("graph", "graph-0", nil, backupID).String()
	if want := "graph/graph-0: still waiting: no pod yet"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
