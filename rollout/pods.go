package rollout

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// Outcome is how far one pod got with the restore.
type Outcome string

const (
	Waiting  Outcome = "waiting"
	Restored Outcome = "restored"
	// Fetched: restore-mode fetch; the backup waits in /plugins for a person.
	Fetched Outcome = "fetched"
	Failed  Outcome = "failed"
)

// PodResult is one pod's outcome and what it rests on: the backup restored,
// the failed container's message, or what is still awaited.
type PodResult struct {
	StatefulSet string
	Pod         string
	Outcome     Outcome
	Detail      string
}

// String is the report line: <statefulset>/<pod>: <outcome>, so that the
// pods of a deployment's StatefulSets read apart.
func (r PodResult) String() string {
	who := r.Pod
	if r.StatefulSet != "" {
		who = r.StatefulSet + "/" + r.Pod
	}
	switch r.Outcome {
	case Waiting:
		return fmt.Sprintf("%s: still waiting: %s", who, r.Detail)
	case Failed:
		return fmt.Sprintf("%s: failed: %s", who, r.Detail)
	}
	return fmt.Sprintf("%s: %s", who, r.Detail)
}

func (r PodResult) settled() bool { return r.Outcome != Waiting }

// podResult tells how far pod name of StatefulSet statefulSet (nil while
// there is none) got with restoring backup id, from what the kubelet
// reported of its init containers.
func podResult(statefulSet, name string, pod *corev1.Pod, id string) PodResult {
	waiting := func(format string, a ...any) PodResult {
		return PodResult{statefulSet, name, Waiting, fmt.Sprintf(format, a...)}
	}
	failed := func(format string, a ...any) PodResult {
		return PodResult{statefulSet, name, Failed, fmt.Sprintf(format, a...)}
	}
	switch {
	case pod == nil:
		return waiting("no pod yet")
	case pod.DeletionTimestamp != nil:
		return waiting("the pod is being deleted")
	case pod.Annotations[annotations.Restore] != id:
		return failed("the pod carries %s=%q, not %s: it was made from another revision of the pod template (does the StatefulSet's rollingUpdate set a partition?)",
			annotations.Restore, pod.Annotations[annotations.Restore], id)
	}
	ours := injected(pod)
	if len(ours) == 0 {
		return failed("the pod has no %s init container: the restore webhook did not inject it; check that neo4j-backup serve is running", podrestore.FetchContainer)
	}
	for _, c := range ours {
		st := initStatus(pod, c)
		switch {
		case st == nil:
			if reason, ok := unscheduled(pod); ok {
				return waiting("the pod is not scheduled: %s", reason)
			}
			return waiting("%s has not started", c)
		case st.State.Terminated != nil && st.State.Terminated.ExitCode == 0:
			continue
		case st.State.Terminated != nil:
			t := st.State.Terminated
			return failed("%s exited %d: %s", c, t.ExitCode, message(t, pod, c))
		case st.LastTerminationState.Terminated != nil && st.LastTerminationState.Terminated.ExitCode != 0:
			t := st.LastTerminationState.Terminated
			return failed("%s exited %d: %s (the kubelet retries it)", c, t.ExitCode, message(t, pod, c))
		case st.State.Waiting != nil && st.State.Waiting.Reason != "" && st.State.Waiting.Reason != "PodInitializing":
			return waiting("%s is waiting: %s", c, oneLine(st.State.Waiting.Reason+" "+st.State.Waiting.Message))
		case st.State.Running != nil:
			return waiting("%s is running", c)
		default:
			return waiting("%s has not started", c)
		}
	}
	if len(ours) == 1 {
		return PodResult{statefulSet, name, Fetched, fmt.Sprintf("fetched %s into %s; restore-mode is %s, so restoring it is left to you", id, podrestore.StagePath, annotations.ModeFetch)}
	}
	return PodResult{statefulSet, name, Restored, "restored " + id}
}

// injected names the restore init containers the pod has, in order.
func injected(pod *corev1.Pod) []string {
	var names []string
	for _, want := range []string{podrestore.FetchContainer, podrestore.RestoreContainer} {
		for _, c := range pod.Spec.InitContainers {
			if c.Name == want {
				names = append(names, want)
			}
		}
	}
	return names
}

func initStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.InitContainerStatuses {
		if pod.Status.InitContainerStatuses[i].Name == name {
			return &pod.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

func unscheduled(pod *corev1.Pod) (string, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return oneLine(c.Message), true
		}
	}
	return "", false
}

// message is the last line of a termination message: with
// FallbackToLogsOnError it is the tail of the log, whose last line is the
// container's one-line error.
func message(t *corev1.ContainerStateTerminated, pod *corev1.Pod, container string) string {
	lines := strings.Split(strings.TrimSpace(t.Message), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return fmt.Sprintf("%s, without a message; kubectl logs %s -c %s -n %s shows its output", first(t.Reason, "no reason given"), pod.Name, container, pod.Namespace)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
