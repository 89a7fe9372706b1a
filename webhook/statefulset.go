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
func CopyToTemplate(sts, old *appsv1.StatefulSet) []jsonpatch.Operation {
	meta := sts.Annotations
	tmpl := sts.Spec.Template.Annotations
	var oldMeta map[string]string
	if old != nil {
		oldMeta = old.Annotations
	}

	set := map[string]string{}
	var remove []string
	for _, k := range annotations.CopiedToTemplate {
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
		return []jsonpatch.Operation{{Operation: "add", Path: "/spec/template/metadata/annotations", Value: set}}
	}
	var ops []jsonpatch.Operation
	for _, k := range sortedKeys(set) {
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/spec/template/metadata/annotations/" + escape(k), Value: set[k]})
	}
	for _, k := range remove {
		ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: "/spec/template/metadata/annotations/" + escape(k)})
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
