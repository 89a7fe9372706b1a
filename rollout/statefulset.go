package rollout

// This file reads the StatefulSet before anything changes, and says what its
// pods will carry once it is annotated: the same annotations, read the same
// way, as the webhook.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/neo4j-backup/neo4j-backup/webhook"
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
		return nil, fmt.Errorf("reading namespace %s, whose %s annotations say where its backups are: %v; ask for permission to get it", namespace, webhook.Prefix, err)
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
// where the backups are, the endpoint and the region.
func (s *StatefulSet) Settings(at string, databases []string, defaultDestination string) (webhook.RestoreSettings, error) {
	pod, err := s.podAnnotations(at, databases)
	if err != nil {
		return webhook.RestoreSettings{}, err
	}
	settings, err := webhook.ReadRestore(pod, s.namespace, s.sts.Namespace, s.sts.Name, defaultDestination)
	if err != nil {
		return webhook.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v", s.sts.Name, err)
	}
	return settings, nil
}

// wanted are the restore annotations the rollout sets; restore-databases is
// removed unless databases are named, so an earlier restore's list does not
// narrow this one.
func wanted(at string, databases []string) map[string]*string {
	m := map[string]*string{webhook.Restore: &at, webhook.RestoreDatabases: nil}
	if len(databases) > 0 {
		list := strings.Join(databases, ",")
		m[webhook.RestoreDatabases] = &list
	}
	return m
}

func annotationPatch(at string, databases []string) []byte {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": wanted(at, databases)}})
	return patch
}

// podAnnotations are the annotations the pods will carry after the
// annotation patch: the pod template's, with what the StatefulSet webhook
// copies there from the metadata.
func (s *StatefulSet) podAnnotations(at string, databases []string) (map[string]string, error) {
	before, err := json.Marshal(s.sts)
	if err != nil {
		return nil, err
	}
	after, err := jsonpatch.MergePatch(before, annotationPatch(at, databases))
	if err != nil {
		return nil, err
	}
	var annotated appsv1.StatefulSet
	if err := json.Unmarshal(after, &annotated); err != nil {
		return nil, err
	}
	if ops := webhook.CopyToTemplate(&annotated, s.sts); len(ops) > 0 {
		raw, err := json.Marshal(ops)
		if err != nil {
			return nil, err
		}
		patch, err := jsonpatch.DecodePatch(raw)
		if err != nil {
			return nil, err
		}
		if after, err = patch.Apply(after); err != nil {
			return nil, err
		}
		annotated = appsv1.StatefulSet{}
		if err := json.Unmarshal(after, &annotated); err != nil {
			return nil, err
		}
	}
	return annotated.Spec.Template.Annotations, nil
}
