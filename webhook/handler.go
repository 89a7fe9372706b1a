package webhook

// The admission handlers: decode, ask the pure decide step, answer. Every
// error the user can act on becomes a denial with that sentence.

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// Paths the webhook server serves; manifests/ names the same.
const (
	PathMutatePod         = "/mutate-pod"
	PathMutateStatefulSet = "/mutate-statefulset"
	PathValidate          = "/validate"
)

// Register adds the admission handlers to server. namespaces reads Namespace
// metadata, from the manager's cache in the server.
func Register(server webhook.Server, namespaces client.Reader, cfg Config) {
	decoder := admission.NewDecoder(runtime.NewScheme())
	server.Register(PathMutatePod, &webhook.Admission{Handler: &PodInjector{Namespaces: namespaces, Config: cfg, decoder: decoder}})
	server.Register(PathMutateStatefulSet, &webhook.Admission{Handler: &StatefulSetMutator{decoder: decoder}})
	server.Register(PathValidate, &webhook.Admission{Handler: &Validator{decoder: decoder}})
}

// PodInjector adds the restore init containers to annotated Neo4j pods.
type PodInjector struct {
	Namespaces client.Reader
	Config     Config
	decoder    admission.Decoder
}

// NewPodInjector returns a PodInjector; for benchmarks and tests that call
// Handle directly.
func NewPodInjector(namespaces client.Reader, cfg Config) *PodInjector {
	return &PodInjector{Namespaces: namespaces, Config: cfg, decoder: admission.NewDecoder(runtime.NewScheme())}
}

func (h *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return count("pod", outcomeSkipped, admission.Allowed("only pod CREATE is mutated"))
	}
	var pod corev1.Pod
	if err := h.decoder.Decode(req, &pod); err != nil {
		return count("pod", outcomeError, admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)))
	}
	if _, ok := pod.Annotations[annotations.Restore]; !ok {
		return count("pod", outcomeSkipped, admission.Allowed("no "+annotations.Restore+" annotation"))
	}
	ns := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	if err := h.Namespaces.Get(ctx, client.ObjectKey{Name: req.Namespace}, ns); err != nil {
		// Failing closed: without the Namespace's settings the restore could
		// go to the wrong place. The apiserver retries the pod's creation.
		return count("pod", outcomeError, admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading namespace %s: %w", req.Namespace, err)))
	}
	ops, err := InjectPod(&pod, ns.Annotations, req.Namespace, h.Config)
	if err != nil {
		logf.FromContext(ctx).Info("denied pod", "namespace", req.Namespace, "pod", podName(&pod), "reason", err.Error())
		return count("pod", outcomeDenied, admission.Denied(err.Error()))
	}
	if len(ops) == 0 {
		return count("pod", outcomeSkipped, admission.Allowed("already injected"))
	}
	logf.FromContext(ctx).Info("injected restore", "namespace", req.Namespace, "pod", podName(&pod), "restore", pod.Annotations[annotations.Restore])
	return count("pod", outcomeInjected, admission.Patched("", ops...))
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}

// StatefulSetMutator copies restore annotations into the pod template.
type StatefulSetMutator struct{ decoder admission.Decoder }

func (h *StatefulSetMutator) Handle(_ context.Context, req admission.Request) admission.Response {
	var sts appsv1.StatefulSet
	if err := h.decoder.Decode(req, &sts); err != nil {
		return count("statefulset", outcomeError, admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the StatefulSet: %w", err)))
	}
	var old *appsv1.StatefulSet
	if len(req.OldObject.Raw) > 0 {
		old = &appsv1.StatefulSet{}
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return count("statefulset", outcomeError, admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old StatefulSet: %w", err)))
		}
	}
	ops := CopyToTemplate(&sts, old)
	if len(ops) == 0 {
		return count("statefulset", outcomeSkipped, admission.Allowed("template already has the annotations"))
	}
	return count("statefulset", outcomePatched, admission.Patched("", ops...))
}

// Validator checks neo4j-backup.io/ annotations on Namespaces and
// StatefulSets when they are written.
type Validator struct{ decoder admission.Decoder }

func (h *Validator) Handle(_ context.Context, req admission.Request) admission.Response {
	var problems []string
	switch req.Kind.Kind {
	case "Namespace":
		var obj metav1.PartialObjectMetadata
		if err := h.decoder.Decode(req, &obj); err != nil {
			return count("validate", outcomeError, admission.Errored(http.StatusBadRequest, err))
		}
		problems = annotations.ValidateNamespace(obj.Annotations)
	case "StatefulSet":
		var sts appsv1.StatefulSet
		if err := h.decoder.Decode(req, &sts); err != nil {
			return count("validate", outcomeError, admission.Errored(http.StatusBadRequest, err))
		}
		problems = annotations.ValidateStatefulSet(sts.Annotations)
		for _, p := range annotations.ValidateStatefulSet(sts.Spec.Template.Annotations) {
			problems = append(problems, "pod template: "+p)
		}
		problems = append(problems, statefulSetProblems(&sts)...)
	default:
		return count("validate", outcomeSkipped, admission.Allowed(""))
	}
	if len(problems) > 0 {
		return count("validate", outcomeDenied, admission.Denied(strings.Join(problems, "; ")))
	}
	return count("validate", outcomeAllowed, admission.Allowed(""))
}
