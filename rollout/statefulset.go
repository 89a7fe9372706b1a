package rollout

// This file asks the apiserver what the pods will carry once their
// StatefulSets are annotated, and makes the annotation patch.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

// Settings returns what the webhook will read from the deployment's pods
// once its StatefulSets are annotated to restore at (only databases, if any
// are named): where the backups are, the endpoint and the region. Every
// StatefulSet is asked; they must agree, since one backup ID restores them
// all. Nothing is changed; a missing webhook or a bad value is found here,
// before anything is scaled.
func (d *Deployment) Settings(ctx context.Context, at string, databases []string, defaultDestination string) (annotations.RestoreSettings, error) {
	var first annotations.RestoreSettings
	for i, m := range d.members {
		s, err := d.settingsOf(ctx, m, at, databases, defaultDestination)
		if err != nil {
			return annotations.RestoreSettings{}, err
		}
		if i == 0 {
			first = s
			continue
		}
		if s.From.String() != first.From.String() || s.Endpoint != first.Endpoint || s.Region != first.Region {
			return annotations.RestoreSettings{}, fmt.Errorf("StatefulSets %s and %s would restore from different places (%s, %s), and one backup restores a deployment; make their %s, %s and %s annotations agree; nothing was changed",
				d.members[0].sts.Name, m.sts.Name, place(first), place(s), annotations.RestoreFrom, annotations.Endpoint, annotations.Region)
		}
	}
	return first, nil
}

// settingsOf asks the apiserver rather than predicting its answer: a
// server-side dry run of the annotation patch goes through the admission
// webhooks, so the pod template it returns is the one the pods will be
// created from.
func (d *Deployment) settingsOf(ctx context.Context, m *member, at string, databases []string, defaultDestination string) (annotations.RestoreSettings, error) {
	name := m.sts.Name
	dry, err := d.kube.AppsV1().StatefulSets(d.namespace).Patch(ctx, name, types.MergePatchType, annotationPatch(at, databases), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsForbidden(err) {
		return annotations.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v; annotating it needs permission to patch StatefulSets in namespace %s", name, err, d.namespace)
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
	settings, err := annotations.ReadRestore(template, d.nsAnnotations, d.namespace, deployment, defaultDestination)
	if err != nil {
		return annotations.RestoreSettings{}, fmt.Errorf("StatefulSet %s: %v", name, err)
	}
	return settings, nil
}

// place is where settings restore from, for an error.
func place(s annotations.RestoreSettings) string {
	if s.Endpoint == "" {
		return s.From.String()
	}
	return s.From.String() + " at " + s.Endpoint
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
