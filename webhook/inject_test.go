package webhook

import (
	"encoding/json"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"

	"github.com/neo4j-backup/neo4j-backup/internal/golden"
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
// patch and the patched pod with its golden file; then runs the patched pod
// through again to prove a second pass changes nothing.
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
