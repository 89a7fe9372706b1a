package rollout

// This file says where the rollout left the StatefulSets, and the commands
// that finish or undo it: the sentence an interruption or a failure ends
// with. It reads the rollout's state only; it asks nothing of the cluster.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// left says where the rollout left each StatefulSet and the commands that
// finish or undo it. The StatefulSets move through the stages together, so
// they are told by stage; where a step stopped half-way, the advice keeps
// the deployment whole: finishing brings every StatefulSet back restoring,
// undoing every one as it was.
func (r *rollout) left() string {
	by := map[stage][]*state{}
	for _, s := range r.states {
		by[s.stage] = append(by[s.stage], s)
	}
	up, ann, down, back, same := by[scaledUp], by[annotated], by[scaledDown], by[rolledBack], by[untouched]
	if len(same) == len(r.states) {
		return "nothing was changed"
	}
	restore := annotations.Restore + "=" + r.id
	undo := r.undoCommands(ann)

	var says []string
	if len(up) > 0 {
		says = append(says, fmt.Sprintf("%s %s back at %s and annotated %s, so %s pods restore that backup as they start",
			names(up), isAre(up), replicasOf(up), restore, pick1(len(up), "its", "their")))
	}
	if len(ann) > 0 {
		say := fmt.Sprintf("%s %s scaled to 0 %s and annotated %s", names(ann), isAre(ann), was(ann), restore)
		if len(undo) == 0 {
			say += ", as " + pick1(len(ann), "it was", "they were") + " before"
		}
		says = append(says, say)
	}
	if len(down) > 0 {
		says = append(says, fmt.Sprintf("%s %s scaled to 0 %s and not annotated", names(down), isAre(down), was(down)))
	}
	if len(back) > 0 {
		says = append(says, fmt.Sprintf("%s %s back at %s, as before", names(back), isAre(back), replicasOf(back)))
	}
	if len(same) > 0 {
		says = append(says, fmt.Sprintf("%s %s not changed", names(same), pick1(len(same), "was", "were")))
	}

	itAnn := pick1(len(ann), "it", "them")
	switch {
	case len(ann) > 0 && len(up) > 0:
		// The others restore already: only finishing keeps them one store.
		says = append(says, fmt.Sprintf("run %s to bring %s back restoring %s too", code(r.scaleCommands(ann)), itAnn, r.id))
	case len(ann) > 0 && len(down) > 0:
		bringBack := code(r.scaleCommands(append(slices.Clone(ann), down...)))
		if len(undo) > 0 {
			bringBack = code(undo) + " and then " + bringBack
		}
		says = append(says, fmt.Sprintf("run `%s` to finish the restore, or %s to bring them back as they were", r.rerun(), bringBack))
	case len(ann) > 0 && len(undo) == 0:
		says = append(says, fmt.Sprintf("run %s to bring %s back", code(r.scaleCommands(ann)), itAnn))
	case len(ann) > 0:
		says = append(says, fmt.Sprintf("run %s to bring %s back restoring %s, or first %s to bring %s back as %s",
			code(r.scaleCommands(ann)), itAnn, r.id, code(undo), itAnn, pick1(len(ann), "it was", "they were")))
	case len(down) > 0:
		says = append(says, fmt.Sprintf("run %s to bring %s back as %s", code(r.scaleCommands(down)), pick1(len(down), "it", "them"), pick1(len(down), "it was", "they were")))
	}
	var annotatedBack []*state
	for _, s := range back {
		if s.annotated {
			annotatedBack = append(annotatedBack, s)
		}
	}
	if undo := r.undoCommands(annotatedBack); len(undo) > 0 {
		whose := "its"
		if len(r.states) > 1 {
			whose = "the annotations of " + names(annotatedBack)
		} else {
			whose += " annotations"
		}
		says = append(says, fmt.Sprintf("run %s to put %s back as they were", code(undo), whose))
	}
	if len(up) > 0 {
		says = append(says, fmt.Sprintf("`kubectl get pods -n %s` shows them", r.namespace))
	}
	return strings.Join(says, "; ")
}

// scaleCommands are the kubectl commands that scale StatefulSets back to
// the replicas they had: one per replica count.
func (r *rollout) scaleCommands(ss []*state) []string {
	var counts []int32
	byCount := map[int32][]string{}
	for _, s := range ss {
		n := s.replicas()
		if _, ok := byCount[n]; !ok {
			counts = append(counts, n)
		}
		byCount[n] = append(byCount[n], s.sts.Name)
	}
	var cmds []string
	for _, n := range counts {
		cmds = append(cmds, fmt.Sprintf("kubectl scale statefulset %s -n %s --replicas=%d", strings.Join(byCount[n], " "), r.namespace, n))
	}
	return cmds
}

// undoCommands are the kubectl commands that put the restore annotations of
// StatefulSets back as they were before the rollout: one per set of
// changes, none for a StatefulSet whose annotations it did not change.
func (r *rollout) undoCommands(ss []*state) []string {
	var order []string
	byArgs := map[string][]string{}
	for _, s := range ss {
		args := r.undoArgs(s)
		if args == "" {
			continue
		}
		if _, ok := byArgs[args]; !ok {
			order = append(order, args)
		}
		byArgs[args] = append(byArgs[args], s.sts.Name)
	}
	var cmds []string
	for _, args := range order {
		cmds = append(cmds, fmt.Sprintf("kubectl annotate statefulset %s -n %s --overwrite %s", strings.Join(byArgs[args], " "), r.namespace, args))
	}
	return cmds
}

// undoArgs are the annotation arguments that undo what the rollout's
// annotation changed on one StatefulSet; empty if it changed none.
func (r *rollout) undoArgs(s *state) string {
	var args []string
	for _, k := range []string{annotations.Restore, annotations.RestoreDatabases} {
		before, had := s.sts.Annotations[k]
		now := wanted(r.id, r.databases)[k]
		switch {
		case had && (now == nil || *now != before):
			args = append(args, k+"="+before)
		case !had && now != nil:
			args = append(args, k+"-")
		}
	}
	return strings.Join(args, " ")
}

// removeAnnotation is the kubectl command that removes the restore
// annotations the rollout set, so pods start without a restore.
func (r *rollout) removeAnnotation() string {
	cmd := fmt.Sprintf("kubectl annotate statefulset %s -n %s %s-", strings.Join(nameList(r.states), " "), r.namespace, annotations.Restore)
	if len(r.databases) > 0 {
		cmd += " " + annotations.RestoreDatabases + "-"
	}
	return cmd
}

// rerun is the command that takes the same restore from the start; from
// where a half-done annotation left the deployment, it finishes it.
func (r *rollout) rerun() string {
	cmd := fmt.Sprintf("neo4j-backup restore -n %s %s --at %s", r.namespace, r.target, r.id)
	if len(r.databases) > 0 {
		cmd += " --databases " + strings.Join(r.databases, ",")
	}
	return cmd
}

// fromReplicas and backToReplicas name the StatefulSets of a scaling step
// and their replicas, for the progress.
func (r *rollout) fromReplicas() string   { return perReplicas(r.states, "from") }
func (r *rollout) backToReplicas() string { return perReplicas(r.states, "back to") }

// perReplicas is "graph from 2 replicas", "a, b and c from 1 replica each",
// or "core from 3 replicas and replica from 2 replicas".
func perReplicas(ss []*state, word string) string {
	if sameReplicas(ss) {
		return names(ss) + " " + word + " " + replicasOf(ss)
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.sts.Name + " " + word + " " + replicas(s.replicas())
	}
	return list(parts)
}

// replicasOf is "3 replicas", "1 replica each" or "3 and 2 replicas".
func replicasOf(ss []*state) string {
	switch {
	case len(ss) == 1:
		return replicas(ss[0].replicas())
	case sameReplicas(ss):
		return replicas(ss[0].replicas()) + " each"
	}
	return list(counts(ss)) + " replicas"
}

// was is "(was 3)", "(were 1 each)" or "(were 3 and 2)".
func was(ss []*state) string {
	switch {
	case len(ss) == 1:
		return fmt.Sprintf("(was %d)", ss[0].replicas())
	case sameReplicas(ss):
		return fmt.Sprintf("(were %d each)", ss[0].replicas())
	}
	return "(were " + list(counts(ss)) + ")"
}

func sameReplicas(ss []*state) bool {
	for _, s := range ss {
		if s.replicas() != ss[0].replicas() {
			return false
		}
	}
	return true
}

func counts(ss []*state) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Itoa(int(s.replicas()))
	}
	return out
}

func replicas(n int32) string { return fmt.Sprintf("%d %s", n, pick1(int(n), "replica", "replicas")) }

func nameList(ss []*state) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.sts.Name
	}
	return out
}

func names(ss []*state) string { return list(nameList(ss)) }

func isAre(ss []*state) string { return pick1(len(ss), "is", "are") }

// list is "a", "a and b", or "a, b and c".
func list(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// code is commands, each in backticks, as a list.
func code(cmds []string) string {
	quoted := make([]string, len(cmds))
	for i, c := range cmds {
		quoted[i] = "`" + c + "`"
	}
	return list(quoted)
}

// pick1 is one when n is 1, else many.
func pick1(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
