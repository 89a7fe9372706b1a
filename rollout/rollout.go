// Package rollout is the CLI's `restore`: it restores a running Neo4j
// deployment from outside, as a whole, the way the README ("Restore a
// StatefulSet") says a causal cluster is restored: scale every StatefulSet
// of it to 0 and wait until all their pods are gone, annotate each with the
// one backup ID, scale each back, and wait until every pod's restore init
// containers (package podrestore) have run. A single StatefulSet is a
// deployment of one. The StatefulSets move through the stages together, and
// the rollout knows where it left each, so an interruption or a failure
// says exactly that and how to finish or undo it.
package rollout

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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

// stage is how far the rollout took a StatefulSet: what it changed.
type stage int

const (
	untouched  stage = iota
	scaledDown       // to 0
	annotated        // and annotated
	scaledUp         // back to the replicas it had
	// rolledBack: back to the replicas it had after the annotation failed,
	// its pods starting as they were.
	rolledBack
)

// state is a StatefulSet of the deployment and how far the rollout took it.
type state struct {
	*member
	stage stage
	// annotated: its restore annotations were written; after a roll back
	// they are still there.
	annotated bool
}

type rollout struct {
	*Deployment
	states    []*state // of d.members, in order
	id        string
	databases []string
	o         Options
}

// requestTimeout bounds each change. Changes are not cancelled by an
// interruption, so that the state reported afterwards is exact; for the
// same reason a step is taken for every StatefulSet before an interruption
// is looked at.
const requestTimeout = 30 * time.Second

// Run restores backup id (only databases, if any are named) into every pod
// of the deployment: it scales all its StatefulSets to 0 and waits for all
// their pods to go (a cluster restores with every member down), annotates
// each, scales each back and waits for the pods' restore init containers.
// It returns every pod's outcome; the error says what failed and where each
// StatefulSet was left.
func (d *Deployment) Run(ctx context.Context, id string, databases []string, o Options) ([]PodResult, error) {
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	r := &rollout{Deployment: d, id: id, databases: databases, o: o}
	for _, m := range d.members {
		r.states = append(r.states, &state{member: m})
	}
	if zero := r.zeroReplicas(); len(zero) > 0 {
		it := pick1(len(zero), "it", "them")
		return nil, fmt.Errorf("%s %s 0 replicas, so no pod of %s would restore; scale %s up first, or run `kubectl annotate statefulset %s -n %s %s=%s` and scale %s up yourself",
			names(zero), pick1(len(zero), "has", "have"), it, it, strings.Join(nameList(zero), " "), d.namespace, annotations.Restore, id, it)
	}
	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	all := names(r.states)
	their := pick1(len(r.states), "its", "their")

	fmt.Fprintf(o.Progress, "scaling %s to 0 and waiting for %s pods to stop\n", r.fromReplicas(), their)
	for _, s := range r.states {
		if err := r.scale(ctx, s, 0); err != nil {
			return nil, r.fail(ctx, "scaling "+s.sts.Name+" to 0", err)
		}
		s.stage = scaledDown
	}
	if err := r.waitGone(ctx, waitCtx); err != nil {
		return nil, r.fail(ctx, "waiting for the pods of "+all+" to stop", err)
	}

	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	fmt.Fprintf(o.Progress, "annotating %s %s=%s\n", all, annotations.Restore, id)
	for i, s := range r.states {
		if err := r.annotate(ctx, s); err != nil {
			if i == 0 {
				return nil, r.rollBack(ctx, s, err)
			}
			// The ones annotated would restore as they start: the
			// deployment comes back as a whole, or not without a person.
			return nil, r.fail(ctx, "annotating "+s.sts.Name, err)
		}
	}

	if ctx.Err() != nil {
		return nil, r.fail(ctx, "", nil)
	}
	fmt.Fprintf(o.Progress, "scaling %s and waiting for %s pods to restore\n", r.backToReplicas(), their)
	for _, s := range r.states {
		if err := r.scale(ctx, s, s.replicas()); err != nil {
			return nil, r.fail(ctx, fmt.Sprintf("scaling %s back to %d", s.sts.Name, s.replicas()), err)
		}
		s.stage = scaledUp
	}
	results, err := r.waitRestored(ctx, waitCtx)
	if err != nil {
		return results, r.fail(ctx, "waiting for the pods of "+all+" to restore", err)
	}
	var failed []string
	outcome := results[0].Outcome
	for _, res := range results {
		if res.Outcome == Failed {
			failed = append(failed, res.Pod)
		}
		if res.Outcome != outcome {
			outcome = Restored + " or " + Fetched
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d of %d pods did not restore (%s), so Neo4j does not start in them; %s %s at %s and annotated %s=%s: run neo4j-backup restore again with another --at, or `%s` and `kubectl delete pod -n %s %s` to start them without a restore",
			len(failed), len(results), strings.Join(failed, ", "), all, pick1(len(r.states), "is", "are"), replicasOf(r.states), annotations.Restore, id,
			r.removeAnnotation(), d.namespace, strings.Join(failed, " "))
	}
	fmt.Fprintf(o.Progress, "every pod of %s has %s backup %s\n", all, outcome, id)
	return results, nil
}

// zeroReplicas are the StatefulSets that ask for no pod: none would restore.
func (r *rollout) zeroReplicas() []*state {
	var zero []*state
	for _, s := range r.states {
		if s.replicas() == 0 {
			zero = append(zero, s)
		}
	}
	return zero
}

func (r *rollout) scale(ctx context.Context, s *state, n int32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := r.kube.AppsV1().StatefulSets(r.namespace).Patch(ctx, s.sts.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale")
	return err
}

// annotate sets the restore annotations and checks that the webhook copied
// them into the pod template, where the pods get them from.
func (r *rollout) annotate(ctx context.Context, s *state) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	sts, err := r.kube.AppsV1().StatefulSets(r.namespace).Patch(ctx, s.sts.Name, types.MergePatchType, annotationPatch(r.id, r.databases), metav1.PatchOptions{})
	if err != nil {
		return err
	}
	s.stage, s.annotated = annotated, true
	if got := sts.Spec.Template.Annotations[annotations.Restore]; got != r.id {
		return fmt.Errorf("its pod template did not get %s=%s: the neo4j-backup webhook that copies it there is not installed or not running", annotations.Restore, r.id)
	}
	return nil
}

// rollBack scales every StatefulSet back after the annotation of the first
// failed: no pod template carries the restore then, so the pods start as
// they were, whatever the annotation did not change.
func (r *rollout) rollBack(ctx context.Context, failed *state, cause error) error {
	step := "annotating " + failed.sts.Name
	if ctx.Err() != nil {
		return r.fail(ctx, step, cause)
	}
	for _, s := range r.states {
		if err := r.scale(ctx, s, s.replicas()); err != nil {
			return r.fail(ctx, step, fmt.Errorf("%v; scaling %s back failed too: %v", cause, s.sts.Name, err))
		}
		s.stage = rolledBack
	}
	return fmt.Errorf("%s: %v; %s", step, cause, r.left())
}

// pods returns the pods of a StatefulSet by name.
func (r *rollout) pods(ctx context.Context, s *state) (map[string]*corev1.Pod, error) {
	list, err := r.kube.CoreV1().Pods(r.namespace).List(ctx, metav1.ListOptions{LabelSelector: s.selector.String()})
	if err != nil {
		return nil, err
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], s.sts) {
			pods[list.Items[i].Name] = &list.Items[i]
		}
	}
	return pods, nil
}

// allPods returns the pods of every StatefulSet by name (pod names are
// unique in a namespace).
func (r *rollout) allPods(ctx context.Context) (map[string]*corev1.Pod, error) {
	all := map[string]*corev1.Pod{}
	for _, s := range r.states {
		pods, err := r.pods(ctx, s)
		if err != nil {
			return nil, err
		}
		maps.Copy(all, pods)
	}
	return all, nil
}

// waitGone waits until no StatefulSet has a pod, terminating ones
// included: Neo4j must have stopped everywhere before any store is
// restored.
func (r *rollout) waitGone(ctx, waitCtx context.Context) error {
	left, lastErr := -1, error(nil)
	err := wait.PollUntilContextCancel(waitCtx, r.o.Interval, true, func(pctx context.Context) (bool, error) {
		pods, err := r.allPods(pctx)
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
	their := pick1(len(r.states), "its", "their")
	if left < 0 {
		return fmt.Errorf("%s pods could not be listed within --timeout %s: %v", their, r.o.Timeout, lastErr)
	}
	return fmt.Errorf("%d of %s pods were still there after --timeout %s", left, their, r.o.Timeout)
}

// waitRestored waits until every pod has restored or failed, reporting each
// as its outcome is known.
func (r *rollout) waitRestored(ctx, waitCtx context.Context) ([]PodResult, error) {
	var results []PodResult
	for _, s := range r.states {
		for _, n := range podNames(s.sts, s.replicas()) {
			results = append(results, PodResult{StatefulSet: s.sts.Name, Pod: n, Outcome: Waiting, Detail: "no pod yet"})
		}
	}
	reported := map[string]Outcome{}
	var lastErr error
	err := wait.PollUntilContextCancel(waitCtx, r.o.Interval, true, func(pctx context.Context) (bool, error) {
		pods, err := r.allPods(pctx)
		if err != nil {
			if pctx.Err() == nil {
				lastErr = err
			}
			return false, nil
		}
		done := true
		for i, res := range results {
			res = podResult(res.StatefulSet, res.Pod, pods[res.Pod], r.id)
			results[i] = res
			if res.settled() && reported[res.Pod] != res.Outcome {
				fmt.Fprintln(r.o.Report, res)
				reported[res.Pod] = res.Outcome
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

// podNames are the names of a StatefulSet's pods at n replicas.
func podNames(sts *appsv1.StatefulSet, n int32) []string {
	start := int32(0)
	if o := sts.Spec.Ordinals; o != nil {
		start = o.Start
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", sts.Name, start+int32(i))
	}
	return names
}

// fail says what failed and where the StatefulSets were left; after an
// interruption, only where they were left.
func (r *rollout) fail(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %s", r.left())
	}
	return fmt.Errorf("%s: %v; %s", step, err, r.left())
}
