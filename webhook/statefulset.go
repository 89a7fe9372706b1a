package webhook

import (
	"sort"

	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// CopyToTemplate returns the patch that copies a StatefulSet's restore,
// endpoint, region and credentials annotations from its metadata into its
// pod template, so the pods it creates carry them. old is the StatefulSet
// before an UPDATE (nil on CREATE): a key removed from the metadata is
// removed from the template too, if the template still holds the value the
// webhook copied there.
//
// The label annotations.DeploymentLabel is copied (or removed) the same
// way, so the pods name the deployment whose folder they restore from, but
// only in a patch that changes the template's annotations anyway: a new
// restore request. Labelling a StatefulSet alone changes no pod template,
// so it neither restarts the pods nor moves the restore place of pods that
// already served their restore request.
func CopyToTemplate(sts, old *appsv1.StatefulSet) []jsonpatch.Operation {
	var oldMeta, oldLabels map[string]string
	if old != nil {
		oldMeta, oldLabels = old.Annotations, old.Labels
	}
	ops := copyKeys("/spec/template/metadata/annotations", sts.Annotations, sts.Spec.Template.Annotations, oldMeta, annotations.CopiedToTemplate)
	if len(ops) == 0 {
		return nil
	}
	return append(ops, copyKeys("/spec/template/metadata/labels", sts.Labels, sts.Spec.Template.Labels, oldLabels, []string{annotations.DeploymentLabel})...)
}

// copyKeys is the patch that makes the keys of the map at path (tmpl) what
// they are in meta: set where meta has them, removed where meta lost them
// and tmpl holds what meta had (oldMeta).
func copyKeys(path string, meta, tmpl, oldMeta map[string]string, keys []string) []jsonpatch.Operation {
	set := map[string]string{}
	var remove []string
	for _, k := range keys {
		v, inMeta := meta[k]
		tv, inTmpl := tmpl[k]
		switch {
		case inMeta && (!inTmpl || tv != v):
			set[k] = v
		case !inMeta && inTmpl && oldMeta[k] == tv:
			remove = append(remove, k)
		}
	}
	if len(set) == 0 && len(remove) == 0 {
		return nil
	}
	if tmpl == nil {
		return []jsonpatch.Operation{{Operation: "add", Path: path, Value: set}}
	}
	var ops []jsonpatch.Operation
	for _, k := range sortedKeys(set) {
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: path + "/" + escape(k), Value: set[k]})
	}
	for _, k := range remove {
		ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: path + "/" + escape(k)})
	}
	return ops
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
