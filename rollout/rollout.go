// Package rollout is the CLI's `restore`: it restores a running Neo4j
// StatefulSet from outside, the way the README ("Restore a StatefulSet")
// says a causal cluster is restored: scale it to 0, annotate it with the
// backup, scale it back, and wait until every pod's restore init containers
// (package podrestore) have run. At every step it knows where it left the
// StatefulSet, so an interruption or a failure says exactly that and how to
// finish or undo it.
package rollout

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// Options bound and report a rollout.
type Options struct {
	// Timeout bounds the waiting, for the pods to stop and then to restore.
	Timeout time.Duration
	// Interval is how often the pods are looked at; 0: half a second.
	Interval time.Duration
	// Progress gets a line per step, Report a line per pod as its outcome
	// is known (and for every pod still waiting when the rollout ends).
	Progress, Report io.Writer
}

// stage is how far the rollout got: what it changed.
type stage int

const (
	untouched  stage = iota
	scaledDown       // to 0
	annotated        // and annotated
	scaledUp         // back to the replicas it had
)

type rollout struct {
	*StatefulSet
	id        string
	databases []string
	replicas  int32
	stage     stage
	o         Options
}

// requestTimeout bounds each change. Changes are not cancelled by an
// interruption, so that the state reported afterwards is exact.
const requestTimeout = 30 * time.Second

// Run restores backup id (only databases, if any are named) into every pod:
// it scales the StatefulSet to 0, annotates it, scales it back and waits for
// the pods' restore init containers. It returns every pod's outcome; the
// error says what failed and where the StatefulSet was left.
func (s *StatefulSet) Run(ctx context.Context, id string, databases []string, o Options) ([]PodResult, error) {
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	r := &rollout{StatefulSet: s, id: id, databases: databases, replicas: s.Replicas(), o: o}
	name := s.sts.Name
	if r.replicas == 0 {
		return nil, fmt.Errorf("%s has 0 replicas, so no pod would restore; run `kubectl annotate statefulset %s -n %s %s=%s` and scale it up yourself",
			name, name, s.sts.Namespace, annotations.Restore, id)
	}
	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	fmt.Fprintf(o.Progress, "scaling %s from %d replicas to 0 and waiting for its pods to stop\n", name, r.replicas)
	if err := r.scale(ctx, 0); err != nil {
		return nil, r.fail(ctx, "scaling "+name+" to 0", err)
	}
	r.stage = scaledDown
	if err := r.waitGone(ctx, waitCtx); err != nil {
		return nil, r.fail(ctx, "waiting for the pods of "+name+" to stop", err)
	}

	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	fmt.Fprintf(o.Progress, "annotating %s %s=%s\n", name, annotations.Restore, id)
	if err := r.annotate(ctx); err != nil {
		return nil, r.rollBack(ctx, err)
	}
	r.stage = annotated

	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	fmt.Fprintf(o.Progress, "scaling %s back to %d replicas and waiting for its pods to restore\n", name, r.replicas)
	if err := r.scale(ctx, r.replicas); err != nil {
		return nil, r.fail(ctx, fmt.Sprintf("scaling %s back to %d", name, r.replicas), err)
	}
	r.stage = scaledUp
	results, err := r.waitRestored(ctx, waitCtx)
	if err != nil {
		return results, r.fail(ctx, "waiting for the pods of "+name+" to restore", err)
	}
	var failed []string
	for _, res := range results {
		if res.Outcome == Failed {
			failed = append(failed, res.Pod)
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d of %d pods did not restore (%s), so Neo4j does not start in them; %s is at %d replicas and annotated %s=%s: run neo4j-backup restore again with another --at, or `%s` and `kubectl delete pod -n %s %s` to start them without a restore",
			len(failed), len(results), strings.Join(failed, ", "), name, r.replicas, annotations.Restore, id, r.removeAnnotation(), s.sts.Namespace, strings.Join(failed, " "))
	}
	fmt.Fprintf(o.Progress, "every pod of %s has %s backup %s\n", name, results[0].Outcome, id)
	return results, nil
}

func (r *rollout) scale(ctx context.Context, n int32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := r.kube.AppsV1().StatefulSets(r.sts.Namespace).Patch(ctx, r.sts.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale")
	return err
}

// annotate sets the restore annotations and checks that the webhook copied
// them into the pod template, where the pods get them from.
func (r *rollout) annotate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	sts, err := r.kube.AppsV1().StatefulSets(r.sts.Namespace).Patch(ctx, r.sts.Name, types.MergePatchType, annotationPatch(r.id, r.databases), metav1.PatchOptions{})
	if err != nil {
		return err
	}
	r.stage = annotated
	if got := sts.Spec.Template.Annotations[annotations.Restore]; got != r.id {
		return fmt.Errorf("its pod template did not get %s=%s: the neo4j-backup webhook that copies it there is not installed or not running", annotations.Restore, r.id)
	}
	return nil
}

// rollBack scales the StatefulSet back after a failed annotation: its pods
// then start as they were, whatever the annotation did not change.
func (r *rollout) rollBack(ctx context.Context, cause error) error {
	step := "annotating " + r.sts.Name
	if ctx.Err() != nil {
		return r.fail(ctx, step, cause)
	}
	if err := r.scale(ctx, r.replicas); err != nil {
		return r.fail(ctx, step, fmt.Errorf("%v; scaling it back failed too: %v", cause, err))
	}
	if undo := r.undoAnnotation(); r.stage == annotated && undo != "" {
		return fmt.Errorf("%s: %v; scaled it back to %d replicas; run `%s` to put its annotations back as they were", step, cause, r.replicas, undo)
	}
	return fmt.Errorf("%s: %v; scaled it back to %d replicas, nothing else changed", step, cause, r.replicas)
}

// pods returns the StatefulSet's pods by name.
func (r *rollout) pods(ctx context.Context) (map[string]*corev1.Pod, error) {
	list, err := r.kube.CoreV1().Pods(r.sts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: r.selector.String()})
	if err != nil {
		return nil, err
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], r.sts) {
			pods[list.Items[i].Name] = &list.Items[i]
		}
	}
	return pods, nil
}

// waitGone waits until the StatefulSet has no pods, terminating ones
// included: Neo4j must have stopped before its store is restored.
func (r *rollout) waitGone(ctx, waitCtx context.Context) error {
	left, lastErr := -1, error(nil)
	err := wait.PollUntilContextCancel(waitCtx, r.o.Interval, true, func(pctx context.Context) (bool, error) {
		pods, err := r.pods(pctx)
		if err != nil {
			if pctx.Err() == nil {
				lastErr = err
			}
			return false, nil
		}
		left = len(pods)
		return left == 0, nil
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	if left < 0 {
		return fmt.Errorf("its pods could not be listed within --timeout %s: %v", r.o.Timeout, lastErr)
	}
	return fmt.Errorf("%d of its pods were still there after --timeout %s", left, r.o.Timeout)
}

// waitRestored waits until every pod has restored or failed, reporting each
// as its outcome is known.
func (r *rollout) waitRestored(ctx, waitCtx context.Context) ([]PodResult, error) {
	names := r.podNames()
	results := make([]PodResult, len(names))
	for i, n := range names {
		results[i] = PodResult{Pod: n, Outcome: Waiting, Detail: "no pod yet"}
	}
	reported := map[string]Outcome{}
	var lastErr error
	err := wait.PollUntilContextCancel(waitCtx, r.o.Interval, true, func(pctx context.Context) (bool, error) {
		pods, err := r.pods(pctx)
		if err != nil {
			if pctx.Err() == nil {
				lastErr = err
			}
			return false, nil
		}
		done := true
		for i, n := range names {
			res := podResult(n, pods[n], r.id)
			results[i] = res
			if res.settled() && reported[n] != res.Outcome {
				fmt.Fprintln(r.o.Report, res)
				reported[n] = res.Outcome
			}
			done = done && res.settled()
		}
		return done, nil
	})
	if err == nil {
		return results, nil
	}
	for _, res := range results {
		if !res.settled() {
			fmt.Fprintln(r.o.Report, res)
		}
	}
	if ctx.Err() != nil {
		return results, err
	}
	waiting := 0
	for _, res := range results {
		if !res.settled() {
			waiting++
		}
	}
	if lastErr != nil {
		return results, fmt.Errorf("%d of %d pods were still waiting after --timeout %s (the last attempt to list them: %v)", waiting, len(results), r.o.Timeout, lastErr)
	}
	return results, fmt.Errorf("%d of %d pods were still waiting after --timeout %s", waiting, len(results), r.o.Timeout)
}

// podNames are the names of the StatefulSet's pods at its replica count.
func (r *rollout) podNames() []string {
	start := int32(0)
	if o := r.sts.Spec.Ordinals; o != nil {
		start = o.Start
	}
	names := make([]string, r.replicas)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", r.sts.Name, start+int32(i))
	}
	return names
}

// fail says what failed and where the StatefulSet was left; after an
// interruption, only where it was left.
func (r *rollout) fail(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %s", r.left())
	}
	return fmt.Errorf("%s: %v; %s", step, err, r.left())
}

// left says where the rollout left the StatefulSet and the command that
// finishes or undoes it.
func (r *rollout) left() string {
	name, ns, n := r.sts.Name, r.sts.Namespace, r.replicas
	scaleBack := fmt.Sprintf("kubectl scale statefulset %s -n %s --replicas=%d", name, ns, n)
	switch r.stage {
	case scaledDown:
		return fmt.Sprintf("%s is scaled to 0 (was %d) and not annotated; run `%s` to bring it back as it was", name, n, scaleBack)
	case annotated:
		undo := r.undoAnnotation()
		if undo == "" {
			return fmt.Sprintf("%s is scaled to 0 (was %d) and annotated %s=%s, as it was before; run `%s` to bring it back", name, n, annotations.Restore, r.id, scaleBack)
		}
		return fmt.Sprintf("%s is scaled to 0 (was %d) and annotated %s=%s; run `%s` to bring it back restoring %s, or first `%s` to bring it back as it was",
			name, n, annotations.Restore, r.id, scaleBack, r.id, undo)
	case scaledUp:
		return fmt.Sprintf("%s is back at %d replicas and annotated %s=%s, so its pods restore that backup as they start; `kubectl get pods -n %s` shows them",
			name, n, annotations.Restore, r.id, ns)
	}
	return "nothing was changed"
}

// undoAnnotation is the kubectl command that puts the restore annotations
// back as they were before the rollout; empty if it changed none.
func (r *rollout) undoAnnotation() string {
	var args []string
	for _, k := range []string{annotations.Restore, annotations.RestoreDatabases} {
		before, had := r.sts.Annotations[k]
		now := wanted(r.id, r.databases)[k]
		switch {
		case had && (now == nil || *now != before):
			args = append(args, k+"="+before)
		case !had && now != nil:
			args = append(args, k+"-")
		}
	}
	if len(args) == 0 {
		return ""
	}
	return fmt.Sprintf("kubectl annotate statefulset %s -n %s --overwrite %s", r.sts.Name, r.sts.Namespace, strings.Join(args, " "))
}

// removeAnnotation is the kubectl command that removes the restore
// annotations the rollout set, so pods start without a restore.
func (r *rollout) removeAnnotation() string {
	cmd := fmt.Sprintf("kubectl annotate statefulset %s -n %s %s-", r.sts.Name, r.sts.Namespace, annotations.Restore)
	if len(r.databases) > 0 {
		cmd += " " + annotations.RestoreDatabases + "-"
	}
	return cmd
}
