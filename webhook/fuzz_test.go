package webhook

// Fuzz targets of the admission handlers, served the way controller-runtime's
// webhook server serves them: an AdmissionReview as the JSON body of a POST,
// a panic not recovered. `make fuzz` runs each for a bounded time after the
// tests; crashers found go under testdata/fuzz/<target>/ as regression cases.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

const (
	fuzzNamespace = "db"
	fuzzUID       = types.UID("0b5c6f0e-7d1a-4c2e-9f3a-fuzz")
)

var (
	podKind       = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	namespaceKind = metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	stsKind       = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	// fuzzSettings is the Namespace the fuzzed pods are created in: a valid
	// destination and Secret, so a pod's own annotations decide.
	fuzzSettings = map[string]string{annotations.Destination: "s3://neo4j-backups", annotations.CredentialsSecret: "s3-creds"}
	fuzzConfig   = Config{Image: testImage, DefaultDestination: "s3://cluster-default/neo4j"}
	fuzzDecoder  = admission.NewDecoder(runtime.NewScheme())
)

// reviewOf is the AdmissionReview the apiserver sends for object (and
// oldObject, on UPDATE), both JSON; the apiserver compacts them.
func reviewOf(t *testing.T, kind metav1.GroupVersionKind, op admissionv1.Operation, object, oldObject []byte) []byte {
	t.Helper()
	req := admissionv1.AdmissionRequest{
		UID: fuzzUID, Kind: kind, Namespace: fuzzNamespace, Operation: op,
		Resource: metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: strings.ToLower(kind.Kind) + "s"},
		Object:   runtime.RawExtension{Raw: object},
	}
	if len(oldObject) > 0 {
		req.OldObject = runtime.RawExtension{Raw: oldObject}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	if err != nil {
		t.Fatalf("encoding the review: %v", err)
	}
	return body
}

// sentObject is the object of review as the handler receives it.
func sentObject(t *testing.T, review []byte) []byte {
	t.Helper()
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &r); err != nil {
		t.Fatal(err)
	}
	return r.Request.Object.Raw
}

// serve posts body to h as the apiserver does and checks that the answer is
// one the apiserver takes: status 200, an AdmissionReview with a response,
// a denial with a code and a reason, a patch only when allowed and as a
// JSON patch.
func serve(t *testing.T, h admission.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	wh := (&webhook.Admission{Handler: h}).WithRecoverPanic(false)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	wh.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP status %d; the apiserver wants 200 with the answer in the review", rec.Code)
	}
	var out admissionv1.AdmissionReview
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("the answer is not an AdmissionReview with a response: %v", err)
	}
	r := out.Response
	if !r.Allowed && (r.Result == nil || r.Result.Code < 400 || r.Result.Message == "") {
		t.Fatalf("a denial without a code and a reason: %+v", r.Result)
	}
	if len(r.Patch) > 0 {
		if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("a patch with allowed=%v and type %v", r.Allowed, r.PatchType)
		}
		if _, err := jsonpatchapply.DecodePatch(r.Patch); err != nil {
			t.Fatalf("the patch is not a JSON patch: %v\n%s", err, r.Patch)
		}
	}
	return r
}

// checkReviewed checks an answer to a review reviewOf made: for this
// request, and a denial of ours (403) in one line when the object's
// annotation keys are ones the apiserver stores.
func checkReviewed(t *testing.T, r *admissionv1.AdmissionResponse, keys map[string]string) {
	t.Helper()
	if r.UID != fuzzUID {
		t.Fatalf("response UID %q, want the request's %q", r.UID, fuzzUID)
	}
	if !r.Allowed && r.Result.Code == http.StatusForbidden && qualifiedKeys(keys) && strings.Contains(r.Result.Message, "\n") {
		t.Errorf("the denial is more than one line: %q", r.Result.Message)
	}
}

func qualifiedKeys(m map[string]string) bool {
	for k := range m {
		if len(validation.IsQualifiedName(k)) > 0 {
			return false
		}
	}
	return true
}

// patchRaw applies a webhook's JSON patch to raw as the apiserver does.
func patchRaw(t *testing.T, patch, raw []byte) []byte {
	t.Helper()
	p, err := jsonpatchapply.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("the patch does not apply to the object it was made for: %v\npatch:  %s\nobject: %s", err, patch, raw)
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// FuzzAdmissionReviewBody posts arbitrary bodies to the three handlers: each
// answers every one with a well-formed review and never panics.
func FuzzAdmissionReviewBody(f *testing.F) {
	for _, name := range []string{"official-5x", "contrib-4x-core", "bad-restore-time"} {
		c, raw := fixturePodJSON(f, name)
		req := podRequest(c.Pod.Namespace, raw)
		body, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request:  &req.AdmissionRequest,
		})
		f.Add(body)
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1","kind":{"version":"v1","kind":"Namespace"},"operation":"CREATE","object":{"metadata":{"annotations":{"neo4j-backup.io/keep":"0"}}}}}`))
	f.Add([]byte(`{"request":{"kind":{"group":"apps","version":"v1","kind":"StatefulSet"},"operation":"UPDATE","object":{},"oldObject":null}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {operation: CREATE}\n"))
	handlers := []admission.Handler{
		NewPodInjector(namespaces{fuzzNamespace: fuzzSettings}, fuzzConfig),
		&StatefulSetMutator{decoder: fuzzDecoder},
		&Validator{decoder: fuzzDecoder},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range handlers {
			serve(t, h, body)
		}
	})
}

// FuzzPodAdmission creates arbitrary pods through the pod webhook. Besides a
// well-formed answer: a patch applies to the pod as sent, the patched pod
// decodes, its containers (the Neo4j container among them) and its own init
// containers and annotations are as they were, and a second pass patches
// nothing (README "Restore a StatefulSet": the Neo4j container is never
// changed).
func FuzzPodAdmission(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "pods", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no pod fixtures: %v", err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
			continue
		}
		_, raw := fixturePodJSON(f, strings.TrimSuffix(filepath.Base(file), ".yaml"))
		f.Add(raw)
	}
	f.Add([]byte(`{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest","neo4j-backup.io/restore-mode":"fetch"},"ownerReferences":[{"kind":"StatefulSet","name":"g","controller":true}]},"spec":{"initContainers":null,"containers":[{"name":"neo4j","volumeMounts":[{"name":"d","mountPath":"/data/"},{"name":"p","mountPath":"/plugins"}]}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"spec":`))
	h := NewPodInjector(namespaces{fuzzNamespace: fuzzSettings}, fuzzConfig)
	f.Fuzz(func(t *testing.T, object []byte) { checkPodAdmission(t, h, object) })
}

// FuzzPodSettings creates fixture pods changed where the webhook looks: one
// annotation, the Neo4j container's image, and one of its mounts moved,
// checked as in FuzzPodAdmission. It reaches what byte changes to JSON
// rarely do: valid pods with unusual values.
func FuzzPodSettings(f *testing.F) {
	pods := podFixtures(f)
	for i, s := range []struct{ key, value, image, mount string }{
		{annotations.Restore, "latest", "", ""},
		{annotations.RestoreMode, annotations.ModeFetch, "neo4j:5.26.0-enterprise", "/plugins"},
		{annotations.RestoreFrom, "s3://old/x/ns/sts", "neo4j:4.4.31-enterprise", "/data/"},
		{annotations.RestoreVolumeSize, "200Gi", "neo4j:2025.06.0-enterprise", "/plugins/"},
		{annotations.RestoreMemory, "4Gi", "registry.example.com/neo4j/neo4j-enterprise:5", "/config/neo4j.conf"},
		{annotations.RestoreDatabases, "Neo4j, system", "neo4j:5-community", "//data"},
		{annotations.DeploymentLabel, "graph", "neo4j@sha256:" + strings.Repeat("0", 64), "/data/../plugins"},
	} {
		f.Add(uint8(i), s.key, s.value, s.image, s.mount)
	}
	h := NewPodInjector(namespaces{fuzzNamespace: fuzzSettings}, fuzzConfig)
	f.Fuzz(func(t *testing.T, fixture uint8, key, value, image, mount string) {
		pod := pods[int(fixture)%len(pods)].DeepCopy()
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		if key == annotations.DeploymentLabel {
			pod.Labels = map[string]string{key: value} // a label, as the template copies it
		} else {
			pod.Annotations[key] = value
		}
		if neo := neo4j.Container(&pod.Spec); neo != nil {
			if image != "" {
				neo.Image = image
			}
			if mount != "" && len(neo.VolumeMounts) > 0 {
				neo.VolumeMounts[int(fixture)%len(neo.VolumeMounts)].MountPath = mount
			}
		}
		raw, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		checkPodAdmission(t, h, raw)
	})
}

// podFixtures are the pods of testdata/pods.
func podFixtures(f *testing.F) []*corev1.Pod {
	files, err := filepath.Glob(filepath.Join("testdata", "pods", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no pod fixtures: %v", err)
	}
	var pods []*corev1.Pod
	for _, file := range files {
		if !strings.HasSuffix(file, ".golden.yaml") {
			c := readPodCase(f, file)
			pods = append(pods, &c.Pod)
		}
	}
	return pods
}

// checkPodAdmission sends object, a pod as JSON or any body, through the
// pod webhook h, with the checks of FuzzPodAdmission.
func checkPodAdmission(t *testing.T, h admission.Handler, object []byte) {
	t.Helper()
	if !json.Valid(object) {
		serve(t, h, object) // not an object the apiserver sends: an arbitrary body
		return
	}
	review := reviewOf(t, podKind, admissionv1.Create, object, nil)
	sent := sentObject(t, review)
	resp := serve(t, h, review)
	var pod corev1.Pod
	if err := fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: sent}, &pod); err != nil {
		if resp.Allowed || resp.Result.Code != http.StatusBadRequest {
			t.Fatalf("a pod that does not decode (%v) got allowed=%v %+v; want 400", err, resp.Allowed, resp.Result)
		}
		return
	}
	checkReviewed(t, resp, pod.Annotations)
	if len(resp.Patch) == 0 {
		return
	}
	patchedRaw := patchRaw(t, resp.Patch, sent)
	var patched corev1.Pod
	if err := fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: patchedRaw}, &patched); err != nil {
		t.Fatalf("the patched pod does not decode: %v\n%s", err, patchedRaw)
	}
	checkPodPatch(t, &pod, &patched)
	again := serve(t, h, reviewOf(t, podKind, admissionv1.Create, patchedRaw, nil))
	if !again.Allowed || len(again.Patch) != 0 {
		t.Errorf("second pass over the patched pod: allowed=%v patch %s; want allowed with no patch", again.Allowed, again.Patch)
	}
}

// checkPodPatch checks what the webhook may change in a pod: it adds init
// containers after the pod's own, a stage volume and the status
// annotation, and nothing else.
func checkPodPatch(t *testing.T, pod, patched *corev1.Pod) {
	t.Helper()
	neo, neoAfter := neo4j.Container(&pod.Spec), neo4j.Container(&patched.Spec)
	if neo == nil || neoAfter == nil {
		t.Fatalf("a pod was patched with Neo4j container %v before and %v after; want one both times", neo, neoAfter)
	}
	if was, is := jsonOf(t, neo), jsonOf(t, neoAfter); was != is {
		t.Errorf("the patch changed the Neo4j container:\nbefore %s\nafter  %s", was, is)
	}
	if was, is := jsonOf(t, pod.Spec.Containers), jsonOf(t, patched.Spec.Containers); was != is {
		t.Errorf("the patch changed the pod's containers:\nbefore %s\nafter  %s", was, is)
	}
	n := len(pod.Spec.InitContainers)
	if len(patched.Spec.InitContainers) <= n || (n > 0 && jsonOf(t, pod.Spec.InitContainers) != jsonOf(t, patched.Spec.InitContainers[:n])) {
		t.Fatalf("the pod's own init containers were changed or nothing was added after them:\nbefore %s\nafter  %s", jsonOf(t, pod.Spec.InitContainers), jsonOf(t, patched.Spec.InitContainers))
	}
	if name := patched.Spec.InitContainers[n].Name; name != podrestore.FetchContainer {
		t.Errorf("the first init container added is %q, want %s", name, podrestore.FetchContainer)
	}
	if v := len(pod.Spec.Volumes); len(patched.Spec.Volumes) < v || (v > 0 && jsonOf(t, pod.Spec.Volumes) != jsonOf(t, patched.Spec.Volumes[:v])) {
		t.Errorf("the pod's volumes were changed:\nbefore %s\nafter  %s", jsonOf(t, pod.Spec.Volumes), jsonOf(t, patched.Spec.Volumes))
	}
	want := map[string]string{annotations.RestoreStatus: "injected"}
	for k, v := range pod.Annotations {
		if k != annotations.RestoreStatus {
			want[k] = v
		}
	}
	if was, is := jsonOf(t, want), jsonOf(t, patched.Annotations); was != is {
		t.Errorf("annotations after the patch %s, want %s", is, was)
	}
}

// FuzzStatefulSetAdmission writes arbitrary StatefulSets (and, when
// oldObject is JSON, updates oldObject to object) through the mutating and
// validating webhooks, and the same object as a Namespace through the
// validating one. A mutation patch applies to the StatefulSet as sent,
// changes only the pod template's annotations and labels, copies the
// restore keys, and leaves nothing to do on a second pass. A StatefulSet
// the validator admits, whose Neo4j container mounts /data, makes pods the
// pod webhook injects rather than denies: the validator is there to refuse
// at `kubectl annotate` time what would stop every pod.
func FuzzStatefulSetAdmission(f *testing.F) {
	for _, s := range chartStatefulSets(f) {
		f.Add(s, []byte{})
		withRestore := annotated(f, s, map[string]string{annotations.Restore: "2021-11-11T10:00:00Z", annotations.RestoreDatabases: "system"})
		f.Add(withRestore, s)
		f.Add(annotated(f, s, map[string]string{annotations.Restore: "latest", annotations.RestoreMode: annotations.ModeFetch, annotations.RestoreVolumeSize: "200Gi"}), withRestore)
	}
	f.Add([]byte(`{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest","neo4j-backup.io/keep":"7d"}},"spec":{"template":{"metadata":{"annotations":{"neo4j-backup.io/restore":"yesterday"}}}}}`), []byte(`{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest"}}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"neo4j-backup.io/destination":"s3://b-1/p","neo4j-backup.io/schedule":"0 3 * * *"}}}`), []byte{})
	f.Add([]byte(`[]`), []byte(`{`))
	h := newStatefulSetHandlers()
	f.Fuzz(func(t *testing.T, object, oldObject []byte) { checkStatefulSetAdmission(t, h, object, oldObject) })
}

// FuzzStatefulSetSettings writes the charts' StatefulSets changed where the
// webhooks look: one annotation, on the metadata or the pod template, the
// Neo4j container's image and one of its mounts moved; as an update of the
// chart's StatefulSet or as a new one. Checked as in
// FuzzStatefulSetAdmission.
func FuzzStatefulSetSettings(f *testing.F) {
	var charts []*appsv1.StatefulSet
	for _, raw := range chartStatefulSets(f) {
		var sts appsv1.StatefulSet
		if err := json.Unmarshal(raw, &sts); err != nil {
			f.Fatal(err)
		}
		charts = append(charts, &sts)
	}
	for i, s := range []struct {
		key, value   string
		inTemplate   bool
		image, mount string
		update       bool
	}{
		{annotations.Restore, "latest", false, "", "", false},
		{annotations.Restore, "2021-11-11T10:00:00Z", true, "neo4j:5.26.0-enterprise", "/plugins", true},
		{annotations.RestoreMode, annotations.ModeFetch, false, "neo4j:4.4.31-enterprise", "/plugins/", false},
		{annotations.RestoreDatabases, "system", false, "neo4j:2025.06.0-enterprise", "", true},
		{annotations.RestoreVolumeSize, "200Gi", true, "", "/data/", false},
		{annotations.Endpoint, "http://minio.storage:9000", false, "neo4j:5-enterprise", "/config/neo4j.conf", true},
		{annotations.DeploymentLabel, "graph", false, "", "", false},
	} {
		f.Add(uint8(i), s.key, s.value, s.inTemplate, s.image, s.mount, s.update)
	}
	h := newStatefulSetHandlers()
	f.Fuzz(func(t *testing.T, chart uint8, key, value string, inTemplate bool, image, mount string, update bool) {
		old := charts[int(chart)%len(charts)]
		sts := old.DeepCopy()
		ann := &sts.Annotations
		if inTemplate {
			ann = &sts.Spec.Template.Annotations
		}
		if *ann == nil {
			*ann = map[string]string{}
		}
		if _, ok := (*ann)[annotations.Restore]; !ok && key != annotations.Restore {
			(*ann)[annotations.Restore] = "latest"
		}
		if key == annotations.DeploymentLabel {
			if sts.Labels == nil {
				sts.Labels = map[string]string{}
			}
			sts.Labels[key] = value // a label, where `kubectl label` puts it
		} else {
			(*ann)[key] = value
		}
		if neo := neo4j.Container(&sts.Spec.Template.Spec); neo != nil {
			if image != "" {
				neo.Image = image
			}
			if mount != "" && len(neo.VolumeMounts) > 0 {
				neo.VolumeMounts[int(chart)%len(neo.VolumeMounts)].MountPath = mount
			}
		}
		object, err := json.Marshal(sts)
		if err != nil {
			t.Fatal(err)
		}
		var oldObject []byte
		if update {
			oldObject, _ = json.Marshal(old)
		}
		checkStatefulSetAdmission(t, h, object, oldObject)
	})
}

type statefulSetHandlers struct {
	injector  *PodInjector
	mutator   *StatefulSetMutator
	validator *Validator
}

func newStatefulSetHandlers() statefulSetHandlers {
	return statefulSetHandlers{
		injector:  NewPodInjector(namespaces{fuzzNamespace: fuzzSettings}, fuzzConfig),
		mutator:   &StatefulSetMutator{decoder: fuzzDecoder},
		validator: &Validator{decoder: fuzzDecoder},
	}
}

// checkStatefulSetAdmission sends object (a StatefulSet as JSON, or any
// body) through the webhooks h, as an update of oldObject when that is
// JSON, with the checks of FuzzStatefulSetAdmission.
func checkStatefulSetAdmission(t *testing.T, h statefulSetHandlers, object, oldObject []byte) {
	t.Helper()
	if !json.Valid(object) {
		serve(t, h.mutator, object)
		serve(t, h.validator, object)
		return
	}
	op := admissionv1.Create
	if !json.Valid(oldObject) {
		oldObject = nil
	} else {
		op = admissionv1.Update
	}

	nsReview := reviewOf(t, namespaceKind, op, object, oldObject)
	nsResp := serve(t, h.validator, nsReview)
	var ns metav1.PartialObjectMetadata
	if err := fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: sentObject(t, nsReview)}, &ns); err == nil {
		checkReviewed(t, nsResp, ns.Annotations)
		if problems := annotations.ValidateNamespace(ns.Annotations); nsResp.Allowed != (len(problems) == 0) {
			t.Errorf("a Namespace with problems %q got allowed=%v", problems, nsResp.Allowed)
		}
	}

	review := reviewOf(t, stsKind, op, object, oldObject)
	sent := sentObject(t, review)
	resp := serve(t, h.mutator, review)
	var sts, old appsv1.StatefulSet
	err := fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: sent}, &sts)
	if err == nil && oldObject != nil {
		err = fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: oldObject}, &old)
	}
	if err != nil {
		if resp.Allowed || resp.Result.Code != http.StatusBadRequest {
			t.Fatalf("a StatefulSet that does not decode (%v) got allowed=%v %+v; want 400", err, resp.Allowed, resp.Result)
		}
		return
	}
	checkReviewed(t, resp, sts.Annotations)
	if !resp.Allowed {
		t.Fatalf("the mutating webhook denied a StatefulSet: %+v", resp.Result)
	}
	patchedRaw := sent
	if len(resp.Patch) > 0 {
		patchedRaw = patchRaw(t, resp.Patch, sent)
	}
	var patched appsv1.StatefulSet
	if err := fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: patchedRaw}, &patched); err != nil {
		t.Fatalf("the patched StatefulSet does not decode: %v\n%s", err, patchedRaw)
	}
	checkStatefulSetPatch(t, &sts, &patched)
	again := serve(t, h.mutator, reviewOf(t, stsKind, op, patchedRaw, oldObject))
	if !again.Allowed || len(again.Patch) != 0 {
		t.Errorf("second pass over the patched StatefulSet: allowed=%v patch %s; want allowed with no patch", again.Allowed, again.Patch)
	}

	verdict := serve(t, h.validator, reviewOf(t, stsKind, op, patchedRaw, oldObject))
	checkReviewed(t, verdict, patched.Annotations)
	if verdict.Allowed {
		checkPodsInjected(t, h.injector, &patched)
	}
}

// checkStatefulSetPatch checks that the mutation copied every restore key
// of the StatefulSet's metadata into its template and changed nothing else
// but the template's annotations and labels.
func checkStatefulSetPatch(t *testing.T, sts, patched *appsv1.StatefulSet) {
	t.Helper()
	for _, k := range annotations.CopiedToTemplate {
		if v, ok := sts.Annotations[k]; ok && patched.Spec.Template.Annotations[k] != v {
			t.Errorf("%s is %q on the StatefulSet but %q in the patched template", k, v, patched.Spec.Template.Annotations[k])
		}
	}
	was, is := sts.DeepCopy(), patched.DeepCopy()
	was.Spec.Template.Annotations, is.Spec.Template.Annotations = nil, nil
	was.Spec.Template.Labels, is.Spec.Template.Labels = nil, nil
	if a, b := jsonOf(t, was), jsonOf(t, is); a != b {
		t.Errorf("the patch changed more than the pod template's annotations and labels:\nbefore %s\nafter  %s", a, b)
	}
}

// checkPodsInjected creates a pod from the template of sts, admitted by the
// validator, and fails if the pod webhook denies it though its Neo4j
// container mounts /data.
func checkPodsInjected(t *testing.T, injector *PodInjector, sts *appsv1.StatefulSet) {
	t.Helper()
	tmpl := sts.Spec.Template
	if _, ok := tmpl.Annotations[annotations.Restore]; !ok {
		return
	}
	neo := neo4j.Container(&tmpl.Spec)
	if neo == nil || !mountsData(neo) {
		return // the pod webhook denies it, saying why; the validator leaves that to it
	}
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "graph-0", Namespace: fuzzNamespace, Labels: tmpl.Labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "graph", UID: "1", Controller: ptr.To(true)}},
		},
		Spec: tmpl.Spec,
	}
	raw, err := json.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	resp := serve(t, injector, reviewOf(t, podKind, admissionv1.Create, raw, nil))
	checkReviewed(t, resp, pod.Annotations)
	if !resp.Allowed {
		t.Errorf("the validator admitted the StatefulSet, but the pod webhook denies its pods: %s", resp.Result.Message)
	}
}

func mountsData(c *corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == podrestore.DataPath {
			return true
		}
	}
	return false
}

// chartStatefulSets are the StatefulSets of the real charts' renders, as
// JSON: the seeds of FuzzStatefulSetAdmission.
func chartStatefulSets(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "charts", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no chart renders: %v", err)
	}
	var out [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil || meta.Kind != "StatefulSet" {
				continue
			}
			raw, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				f.Fatalf("%s: %v", file, err)
			}
			out = append(out, raw)
		}
	}
	if len(out) == 0 {
		f.Fatal("the chart renders hold no StatefulSet")
	}
	return out
}

// annotated is the StatefulSet raw with ann added to its metadata.
func annotated(f *testing.F, raw []byte, ann map[string]string) []byte {
	var sts appsv1.StatefulSet
	if err := json.Unmarshal(raw, &sts); err != nil {
		f.Fatal(err)
	}
	if sts.Annotations == nil {
		sts.Annotations = map[string]string{}
	}
	for k, v := range ann {
		sts.Annotations[k] = v
	}
	out, err := json.Marshal(&sts)
	if err != nil {
		f.Fatal(err)
	}
	return out
}
