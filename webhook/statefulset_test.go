package webhook

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

func sts(meta, template map[string]string) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Annotations: meta}}
	s.Spec.Template.Annotations = template
	return s
}

// labelled gives s labels and its template labels.
func labelled(s *appsv1.StatefulSet, meta, template map[string]string) *appsv1.StatefulSet {
	s.Labels, s.Spec.Template.Labels = meta, template
	return s
}

func TestCopyToTemplate(t *testing.T) {
	tests := []struct {
		name      string
		sts, old  *appsv1.StatefulSet
		wantPatch string
	}{
		{"no annotations", sts(nil, nil), nil, "null"},
		{"into a template without annotations",
			sts(map[string]string{annotations.Restore: "latest", "other": "x"}, nil), nil,
			`[{"op":"add","path":"/spec/template/metadata/annotations","value":{"neo4j-backup.io/restore":"latest"}}]`},
		{"beside the template's own annotations, keys escaped",
			sts(map[string]string{annotations.Restore: "latest", annotations.Endpoint: "s3.example.com"}, map[string]string{"prometheus.io/scrape": "true"}), nil,
			`[{"op":"add","path":"/spec/template/metadata/annotations/neo4j-backup.io~1endpoint","value":"s3.example.com"},{"op":"add","path":"/spec/template/metadata/annotations/neo4j-backup.io~1restore","value":"latest"}]`},
		{"a changed value replaces the template's",
			sts(map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"}, map[string]string{annotations.Restore: "latest"}), nil,
			`[{"op":"add","path":"/spec/template/metadata/annotations/neo4j-backup.io~1restore","value":"2021-11-11T10:00:00Z"}]`},
		{"already in place", sts(map[string]string{annotations.Restore: "latest"}, map[string]string{annotations.Restore: "latest"}), nil, "null"},
		{"schedule is not copied", sts(map[string]string{annotations.Schedule: "@daily"}, nil), nil, "null"},
		{"removed from the metadata: removed from the template",
			sts(nil, map[string]string{annotations.Restore: "latest"}), sts(map[string]string{annotations.Restore: "latest"}, map[string]string{annotations.Restore: "latest"}),
			`[{"op":"remove","path":"/spec/template/metadata/annotations/neo4j-backup.io~1restore"}]`},
		{"set on the template by hand: kept",
			sts(nil, map[string]string{annotations.Restore: "latest"}), sts(nil, map[string]string{annotations.Restore: "latest"}), "null"},
		{"the deployment label goes with a restore request",
			labelled(sts(map[string]string{annotations.Restore: "latest"}, nil), map[string]string{annotations.DeploymentLabel: "graph", "team": "a"}, map[string]string{"app": "graph-a"}), nil,
			`[{"op":"add","path":"/spec/template/metadata/annotations","value":{"neo4j-backup.io/restore":"latest"}},{"op":"add","path":"/spec/template/metadata/labels/neo4j-backup.io~1deployment","value":"graph"}]`},
		{"the deployment label alone changes no template",
			labelled(sts(map[string]string{annotations.Restore: "latest"}, map[string]string{annotations.Restore: "latest"}), map[string]string{annotations.DeploymentLabel: "graph"}, map[string]string{"app": "graph-a"}), nil,
			"null"},
		{"a removed deployment label leaves the template with the next request",
			labelled(sts(map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"}, map[string]string{annotations.Restore: "latest"}), nil, map[string]string{"app": "graph-a", annotations.DeploymentLabel: "graph"}),
			labelled(sts(map[string]string{annotations.Restore: "latest"}, nil), map[string]string{annotations.DeploymentLabel: "graph"}, nil),
			`[{"op":"add","path":"/spec/template/metadata/annotations/neo4j-backup.io~1restore","value":"2021-11-11T10:00:00Z"},{"op":"remove","path":"/spec/template/metadata/labels/neo4j-backup.io~1deployment"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(CopyToTemplate(tt.sts, tt.old))
			if string(got) != tt.wantPatch {
				t.Errorf("patch\n got %s\nwant %s", got, tt.wantPatch)
			}
		})
	}
}
