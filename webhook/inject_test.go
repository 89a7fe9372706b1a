package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/golden"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// podCase is one file under testdata/pods: a pod, its namespace's
// annotations, and optionally the server's settings.
type podCase struct {
	Namespace map[string]string `json:"namespace"`
	Server    *struct {
		DefaultDestination string `json:"defaultDestination"`
	} `json:"server"`
	Pod corev1.Pod `json:"pod"`
}

// podResult is what a case's .golden.yaml holds: the patch and the pod it
// makes, or the denial.
type podResult struct {
	Denied string            `json:"denied,omitempty"`
	Patch  []json.RawMessage `json:"patch,omitempty"`
	Pod    *corev1.Pod       `json:"pod,omitempty"`
}

const testImage = "ghcr.io/neo4j-backup/neo4j-backup:test"

// TestInjectPodFixtures runs every case under testdata/pods and compares the
// patch and the patched pod with its golden file; checks that the pod's own
// containers are left byte for byte as they were and that only the init
// containers mount the stage volume; then runs the patched pod through
// again to prove a second pass changes nothing.
func TestInjectPodFixtures(t *testing.T) {
	golden.Run(t, "testdata/pods/*.yaml", 10, func(t *testing.T, file string) {
		c := readPodCase(t, file)
		cfg := Config{Image: testImage, DefaultDestination: "s3://cluster-default/neo4j"}
		if c.Server != nil {
			cfg.DefaultDestination = c.Server.DefaultDestination
		}
		got := podResult{}
		ops, err := InjectPod(&c.Pod, c.Namespace, c.Pod.Namespace, cfg)
		if err != nil {
			got.Denied = err.Error()
		} else {
			patched := applyPatch(t, &c.Pod, ops)
			checkContainersUntouched(t, &c.Pod, patched)
			for _, op := range ops {
				raw, _ := json.Marshal(op)
				got.Patch = append(got.Patch, raw)
			}
			got.Pod = patched

			again, err := InjectPod(patched, c.Namespace, c.Pod.Namespace, cfg)
			if err != nil || len(again) != 0 {
				t.Errorf("second pass over the injected pod: patch %v, error %v; want neither", again, err)
			}
		}
		golden.Compare(t, golden.Path(file), got)
	})
}

// checkContainersUntouched fails unless the pod's containers (Neo4j's
// among them) are, as JSON, what they were before the patch, and the stage
// volume the webhook may add is mounted by init containers only.
func checkContainersUntouched(t *testing.T, before, after *corev1.Pod) {
	t.Helper()
	was, _ := json.Marshal(before.Spec.Containers)
	is, _ := json.Marshal(after.Spec.Containers)
	if string(was) != string(is) {
		t.Errorf("the patch changed the pod's containers:\nbefore %s\nafter  %s", was, is)
	}
	for _, c := range after.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == podrestore.StageVolume {
				t.Errorf("container %s mounts %s; only the init containers may", c.Name, podrestore.StageVolume)
			}
		}
	}
}

func TestStatefulSetProblems(t *testing.T) {
	sts := func(mode, pluginsAt string, inTemplate bool) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{}
		ann := map[string]string{annotations.Restore: "latest", annotations.RestoreMode: mode}
		if inTemplate {
			s.Spec.Template.Annotations = ann
		} else {
			s.Annotations = ann
		}
		neo := corev1.Container{Name: "db", Image: "neo4j:5.26.0-enterprise", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}
		if pluginsAt != "" {
			neo.VolumeMounts = append(neo.VolumeMounts, corev1.VolumeMount{Name: "plugins", MountPath: pluginsAt})
		}
		s.Spec.Template.Spec.Containers = []corev1.Container{neo}
		return s
	}
	// cluster is a server of the official chart's 5.x cluster.
	cluster := func(databases, mode string) *appsv1.StatefulSet {
		s := sts(mode, "", false)
		s.Labels = map[string]string{"helm.neo4j.com/clustering": "true"}
		if databases != "" {
			s.Annotations[annotations.RestoreDatabases] = databases
		}
		return s
	}
	// discovery is a server that says it is one only in its env.
	discovery := func(image string) *appsv1.StatefulSet {
		s := sts("", "", true)
		c := &s.Spec.Template.Spec.Containers[0]
		c.Image = image
		c.Env = []corev1.EnvVar{{Name: "NEO4J_dbms_cluster_discovery_endpoints", Value: "a:5000,b:5000"}, {Name: "NEO4J_dbms_mode", Value: "CORE"}}
		return s
	}
	for _, tt := range []struct {
		name string
		sts  *appsv1.StatefulSet
		want string // the only problem; empty for none
	}{
		{"fetch without /plugins, on the StatefulSet", sts(annotations.ModeFetch, "", false), "neo4j-backup.io/restore-mode fetch leaves the backup in /plugins, but container db mounts nothing there; mount a volume at /plugins in the Neo4j container or set neo4j-backup.io/restore-mode to restore"},
		{"fetch without /plugins, in the template", sts(annotations.ModeFetch, "", true), "container db mounts nothing there"},
		{"fetch with /plugins", sts(annotations.ModeFetch, "/plugins/", false), ""},
		{"restore without /plugins", sts(annotations.ModeRestore, "", false), ""},
		{"no mode", sts("", "", false), ""},
		{"5.x cluster server, every database", cluster("", ""), `a Neo4j 5.26.0 cluster server takes back only its system database offline; user databases are seeded once the cluster runs (README "Restore a cluster"): set neo4j-backup.io/restore-databases: system`},
		{"5.x cluster server, neo4j named", cluster("neo4j,system", ""), "set neo4j-backup.io/restore-databases: system"},
		{"5.x cluster server, system only", cluster("System", ""), ""},
		{"5.x cluster server, fetch only", cluster("", annotations.ModeFetch), "mounts nothing there"},
		{"calendar-version cluster server by its discovery env", discovery("neo4j:2025.06.0-enterprise"), "a Neo4j 2025.06.0 cluster server"},
		{"4.x core: unbind and restore offline", discovery("neo4j:4.4.31-enterprise"), ""},
		{"no Neo4j container: the pod webhook says so", &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotations.RestoreMode: annotations.ModeFetch}}}, ""},
	} {
		got := statefulSetProblems(tt.sts)
		switch {
		case tt.want == "" && len(got) > 0:
			t.Errorf("%s: problems %q, want none", tt.name, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s: problems %q, want one saying %q", tt.name, got, tt.want)
		}
	}
}

func readPodCase(t testing.TB, file string) podCase {
	t.Helper()
	var c podCase
	golden.ReadCase(t, file, &c)
	return c
}

func applyPatch(t testing.TB, pod *corev1.Pod, ops any) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	rawOps, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatchapply.DecodePatch(rawOps)
	if err != nil {
		t.Fatalf("the patch is not a JSON patch: %v", err)
	}
	out, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("applying the patch: %v\npatch: %s", err, rawOps)
	}
	var patched corev1.Pod
	if err := json.Unmarshal(out, &patched); err != nil {
		t.Fatal(err)
	}
	return &patched
}
