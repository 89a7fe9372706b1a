package rollout

// This file reads the StatefulSet before anything changes, and asks the
// apiserver what its pods will carry once it is annotated.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// StatefulSet is the StatefulSet to restore and its Namespace's
// annotations, as they were before anything changed.
type StatefulSet struct {
	kube      kubernetes.Interface
	sts       *appsv1.StatefulSet
	selector  labels.Selector
	namespace map[string]string
}

// Load reads StatefulSet name and its Namespace.
func Load(ctx context.Context, kube kubernetes.Interface, namespace, name string) (*StatefulSet, error) {
	ns, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("there is no namespace %s", namespace)
	}
	if apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("reading namespace %s, whose %s annotations say where its backups are: %v; ask for permission to get it", namespace, annotations.Prefix, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %v", namespace, err)
	}
	sts, err := kube.AppsV1().StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("there is no StatefulSet %s in namespace %s; kubectl get statefulsets -n %s lists them", name, namespace, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading StatefulSet %s: %v", name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("StatefulSet %s has a selector that cannot be read: %v", name, err)
	}
	return &StatefulSet{kube: kube, sts: sts, selector: selector, namespace: ns.Annotations}, nil
}

// Replicas is how many pods the StatefulSet asks for.
func (s *StatefulSet) Replicas() int32 {
	if s.sts.Spec.Replicas == nil {
		return 1
	}
	return *s.sts.Spec.Replicas
}

// Settings returns what the webhook will read from the StatefulSet's pods
// once it is annotated to restore at (only databases, if any are named):
// where the backups are, the endpoint and the region. It asks the apiserver
// rather than predicting its answer: a server-side dry run of the
// annotation patch goes through the admission webhooks, so the pod template
// it returns is the one the pods will be created from. Nothing is changed;
// a missing webhook is found here, before anything is scaled.
func (s *StatefulSet) Settings(ctx context.Context, at string, databases []string, defaultDestination string) (annotations.RestoreSettings, error) {
	name := s.sts.Name
	dry, err := s.kube.AppsV1().StatefulSets(s.sts.Namespace).Patch(ctx, name, types.MergePatchType, annotationPatch(at, databases), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsForbidden(err) {
		return annotations.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v; annotating it needs permission to patch StatefulSets in namespace %s", name, err, s.sts.Namespace)
	}
	if err != nil {
		// A denial of the validating webhook is a sentence about the values.
		return annotations.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v; nothing was changed", name, err)
	}
	template := dry.Spec.Template.Annotations
	if template[annotations.Restore] != at {
		return annotations.RestoreSettings{}, fmt.Errorf("annotating StatefulSet %s would not reach its pod template (a dry run left %s=%q there): the neo4j-backup webhook that copies it is not installed or not running; nothing was changed; check `kubectl get mutatingwebhookconfigurations` and the neo4j-backup Deployment",
			name, annotations.Restore, template[annotations.Restore])
	}
	// The pods' labels name the deployment whose folder they restore from,
	// as the webhook reads them: the dry run's pod template is what they
	// will carry.
	deployment, _ := annotations.DeploymentOf(name, dry.Spec.Template.Labels)
	settings, err := annotations.ReadRestore(template, s.namespace, s.sts.Namespace, deployment, defaultDestination)
	if err != nil {
		return annotations.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v", name, err)
	}
	return settings, nil
}

// wanted are the restore annotations the rollout sets; restore-databases is
// removed unless databases are named, so an earlier restore's list does not
// narrow this one.
func wanted(at string, databases []string) map[string]*string {
	m := map[string]*string{annotations.Restore: &at, annotations.RestoreDatabases: nil}
	if len(databases) > 0 {
		list := strings.Join(databases, ",")
		m[annotations.RestoreDatabases] = &list
	}
	return m
}

func annotationPatch(at string, databases []string) []byte {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": wanted(at, databases)}})
	return patch
}
