package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// TestMain quiets controller-runtime's logger, which otherwise warns with a
// stack trace that it was never set.
func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// namespaces is a client.Reader holding Namespace annotations, standing in
// for the manager's cache in tests of the handler alone.
type namespaces map[string]map[string]string

func (n namespaces) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	obj.SetName(key.Name)
	obj.SetAnnotations(n[key.Name])
	return nil
}

func (n namespaces) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

func podRequest(namespace string, raw []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("1"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

func fixturePodJSON(t testing.TB, name string) (podCase, []byte) {
	t.Helper()
	c := readPodCase(t, filepath.Join("testdata", "pods", name+".yaml"))
	raw, err := json.Marshal(c.Pod)
	if err != nil {
		t.Fatal(err)
	}
	return c, raw
}

func TestPodInjectorDeniesWithTheReason(t *testing.T) {
	c, raw := fixturePodJSON(t, "bad-restore-time")
	h := NewPodInjector(namespaces{c.Pod.Namespace: c.Namespace}, Config{Image: testImage})
	resp := h.Handle(context.Background(), podRequest(c.Pod.Namespace, raw))
	if resp.Allowed || !strings.Contains(resp.Result.Message, `"yesterday" is not "latest", a backup ID`) {
		t.Errorf("got allowed=%v message %q; want a denial naming the bad value", resp.Allowed, resp.Result.Message)
	}
}

func TestPodInjectorRejectsGarbage(t *testing.T) {
	h := NewPodInjector(namespaces{}, Config{Image: testImage})
	resp := h.Handle(context.Background(), podRequest("x", []byte(`{"spec":`)))
	if resp.Allowed || resp.Result.Code != http.StatusBadRequest {
		t.Errorf("got allowed=%v code %d; want 400", resp.Allowed, resp.Result.Code)
	}
}

// FuzzPodInjector feeds the handler arbitrary pods: it must never panic, and
// whatever patch it answers with must apply to the pod and leave nothing to
// do on a second pass.
func FuzzPodInjector(f *testing.F) {
	for _, name := range []string{"contrib-4x-core", "official-5x", "calendar-2025-fetch-only", "no-plugins-mount", "already-injected", "legacy-folder"} {
		_, raw := fixturePodJSON(f, name)
		f.Add(raw)
	}
	f.Add([]byte(`{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest"}},"spec":{"containers":[{"name":"neo4j","volumeMounts":[{"name":"d","mountPath":"/data"}]}]}}`))
	h := NewPodInjector(namespaces{"ns": {annotations.Destination: "s3://bucket/prefix"}}, Config{Image: testImage})
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp := h.Handle(context.Background(), podRequest("ns", raw))
		if !resp.Allowed || len(resp.Patches) == 0 {
			return
		}
		pod := podFromJSON(t, raw)
		patched := applyPatch(t, pod, resp.Patches)
		patchedRaw, _ := json.Marshal(patched)
		again := h.Handle(context.Background(), podRequest("ns", patchedRaw))
		if !again.Allowed || len(again.Patches) != 0 {
			t.Errorf("second pass: allowed=%v patches=%v", again.Allowed, again.Patches)
		}
	})
}

func podFromJSON(t *testing.T, raw []byte) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatalf("the handler patched a pod that does not decode: %v", err)
	}
	return &pod
}

// benchServe sends one admission review through handler the way the
// apiserver does: JSON over HTTP into webhook.Admission.
func benchServe(b *testing.B, handler admission.Handler, review []byte) {
	wh := &webhook.Admission{Handler: handler}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate-pod", bytes.NewReader(review))
		req.Header.Set("Content-Type", "application/json")
		wh.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

type allowAll struct{}

func (allowAll) Handle(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}

// BenchmarkPodAdmission measures the pod webhook on the official 5.x chart's
// pod against a handler that allows everything, served the same way (the
// floor: decoding and encoding the review).
func BenchmarkPodAdmission(b *testing.B) {
	c, raw := fixturePodJSON(b, "official-5x")
	req := podRequest(c.Pod.Namespace, raw)
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("inject", func(b *testing.B) {
		benchServe(b, NewPodInjector(namespaces{c.Pod.Namespace: c.Namespace}, Config{Image: testImage}), review)
	})
	b.Run("floor", func(b *testing.B) { benchServe(b, allowAll{}, review) })
}
