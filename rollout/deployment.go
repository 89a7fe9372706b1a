package rollout

// This file finds what is restored together, before anything changes: the
// StatefulSets of one Neo4j deployment (README "How deployments are
// found"), or one StatefulSet alone, and their Namespace's annotations.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Deployment is what one restore moves through its stages together: the
// StatefulSets of a Neo4j deployment, in name order, or a single StatefulSet,
// as they were before anything changed.
type Deployment struct {
	kube      kubernetes.Interface
	namespace string
	// nsAnnotations are the Namespace's, which say where its backups are.
	nsAnnotations map[string]string
	members       []*member
	// target is how `neo4j-backup restore` names it: --deployment NAME or
	// --statefulset NAME.
	target string
	// name and by: the Neo4j deployment and the label that grouped it;
	// by is empty for a StatefulSet alone.
	name, by string
}

// member is one StatefulSet of the deployment.
type member struct {
	sts      *appsv1.StatefulSet
	selector labels.Selector
}

func newMember(sts *appsv1.StatefulSet) (*member, error) {
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("StatefulSet %s has a selector that cannot be read: %v", sts.Name, err)
	}
	return &member{sts: sts, selector: selector}, nil
}

// replicas is how many pods the StatefulSet asked for before the restore.
func (m *member) replicas() int32 {
	if m.sts.Spec.Replicas == nil {
		return 1
	}
	return *m.sts.Spec.Replicas
}

// LoadStatefulSet reads StatefulSet name and its Namespace: a deployment of
// one, whichever Neo4j deployment it is part of.
func LoadStatefulSet(ctx context.Context, kube kubernetes.Interface, namespace, name string) (*Deployment, error) {
	nsAnnotations, err := namespaceAnnotations(ctx, kube, namespace)
	if err != nil {
		return nil, err
	}
	sts, err := kube.AppsV1().StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("there is no StatefulSet %s in namespace %s; kubectl get statefulsets -n %s lists them", name, namespace, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading StatefulSet %s: %v", name, err)
	}
	m, err := newMember(sts)
	if err != nil {
		return nil, err
	}
	return &Deployment{kube: kube, namespace: namespace, nsAnnotations: nsAnnotations, members: []*member{m}, target: "--statefulset " + name, name: name}, nil
}

// LoadDeployment reads the StatefulSets of Neo4j deployment name in
// namespace, and the Namespace.
func LoadDeployment(ctx context.Context, kube kubernetes.Interface, namespace, name string) (*Deployment, error) {
	nsAnnotations, err := namespaceAnnotations(ctx, kube, namespace)
	if err != nil {
		return nil, err
	}
	list, err := kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("listing the StatefulSets of namespace %s to find Neo4j deployment %s: %v; ask for permission to list them, or pass --statefulset", namespace, name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listing the StatefulSets of namespace %s: %v", namespace, err)
	}
	found, by, err := pick(name, namespace, list.Items)
	if err != nil {
		return nil, err
	}
	d := &Deployment{kube: kube, namespace: namespace, nsAnnotations: nsAnnotations, target: "--deployment " + name, name: name, by: by}
	for _, sts := range found {
		m, err := newMember(sts)
		if err != nil {
			return nil, err
		}
		d.members = append(d.members, m)
	}
	return d, nil
}

func namespaceAnnotations(ctx context.Context, kube kubernetes.Interface, namespace string) (map[string]string, error) {
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
	return ns.Annotations, nil
}

// String says which StatefulSets the deployment is and why, for the
// progress.
func (d *Deployment) String() string {
	how := "alone"
	if d.by != "" {
		how = "grouped by " + d.by
	}
	names := make([]string, len(d.members))
	for i, m := range d.members {
		names[i] = m.sts.Name
	}
	return fmt.Sprintf("Neo4j deployment %s: %s %s (%s)", d.name, pick1(len(names), "StatefulSet", "StatefulSets"), list(names), how)
}

// pick returns the Neo4j StatefulSets of namespace (all) that form Neo4j
// deployment name, in name order, grouped as the backup reconciler groups
// them (annotations.DeploymentOf, on annotations.StatefulSetLabels), and the label
// that grouped them. It refuses a name that matches none, and one that
// different rules give to StatefulSets that need not be one DBMS (a
// StatefulSet alone named like another's deployment label): the reconciler
// backs those up into no folder, and restoring them together could bring
// two databases down as one.
func pick(name, namespace string, all []appsv1.StatefulSet) ([]*appsv1.StatefulSet, string, error) {
	var found []*appsv1.StatefulSet
	byRule := map[string][]string{} // the label that grouped them → StatefulSets
	var others []string
	for i := range all {
		sts := &all[i]
		if sts.DeletionTimestamp != nil || neo4j.Container(&sts.Spec.Template.Spec) == nil {
			continue
		}
		deployment, by := annotations.DeploymentOf(sts.Name, annotations.StatefulSetLabels(sts))
		if deployment != name {
			if !slices.Contains(others, deployment) {
				others = append(others, deployment)
			}
			continue
		}
		found = append(found, sts)
		byRule[by] = append(byRule[by], sts.Name)
	}
	if len(found) == 0 {
		if len(others) == 0 {
			return nil, "", fmt.Errorf("there is no Neo4j deployment %s in namespace %s: it has no StatefulSet that runs Neo4j; kubectl get statefulsets -n %s lists them", name, namespace, namespace)
		}
		slices.Sort(others)
		return nil, "", fmt.Errorf("there is no Neo4j deployment %s in namespace %s, only %s; pass one of them to --deployment", name, namespace, strings.Join(others, ", "))
	}
	slices.SortFunc(found, func(a, b *appsv1.StatefulSet) int { return strings.Compare(a.Name, b.Name) })
	if len(byRule) > 1 {
		var parts, names []string
		for _, by := range sortedKeys(byRule) {
			how := "alone, named after it"
			if by != "" {
				how = "by " + by
			}
			parts = append(parts, fmt.Sprintf("%s (%s)", strings.Join(byRule[by], ", "), how))
			names = append(names, byRule[by]...)
		}
		slices.Sort(names)
		return nil, "", fmt.Errorf("StatefulSets %s would all be Neo4j deployment %s of namespace %s, so it is not restored; if they are one Neo4j, run kubectl label statefulset -n %s %s %s=%s, else label those of the other Neo4j %s=<another name>",
			strings.Join(parts, " and "), name, namespace, namespace, strings.Join(names, " "), annotations.DeploymentLabel, name, annotations.DeploymentLabel)
	}
	return found, sortedKeys(byRule)[0], nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
