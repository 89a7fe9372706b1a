package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestScheduledBackupWithWarnings runs a scheduled 4.x backup whose
// consistency check fails to run (neo4j-admin exits 2, for each of its two
// databases): the backup is good,
// so it is uploaded complete with the warning in its manifest, the upload
// container says so in its termination message, and when the Job has
// finished serve puts a Warning Event BackupWarnings on the Namespace.
func TestScheduledBackupWithWarnings(t *testing.T) {
	t.Parallel()
	ns := "backup-warnings"
	w := newWorld(t, ns, map[string]string{"neo4j-backup.io/schedule": "* * * * *"})
	w.runner.StandinEnv = append(w.runner.StandinEnv, "NEO4J_STANDIN_CHECK_EXIT=2")
	w.runner.ReportStatus = true
	w.setLive("live", "neo4j", "system")
	w.createStatefulSet("neo4j:4.4.40-enterprise", nil)

	pod := w.waitBackupPod()
	results, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, false)
	if err != nil {
		t.Fatalf("running the backup pod: %v", err)
	}
	if names := resultNames(results); names != "neo4j-admin-backup,upload" {
		t.Fatalf("ran %s, want neo4j-admin-backup then upload", names)
	}
	for _, r := range results {
		if r.ExitCode != 0 {
			t.Fatalf("backup container %s exited %d: %s", r.Name, r.ExitCode, r.Message)
		}
	}
	var outcome struct {
		BackupID string   `json:"backupId"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(results[1].Message), &outcome); err != nil || len(outcome.Warnings) != 2 {
		t.Fatalf("upload's termination message %q (%v); want its outcome with a warning per database", results[1].Message, err)
	}

	location := "s3://" + w.s3.Bucket + "/neo4j/" + ns + "/graph"
	listed := w.list(location)
	if len(listed) != 1 || listed[0].ID != outcome.BackupID || listed[0].Status != "complete" ||
		len(listed[0].Warnings) != 2 || !strings.Contains(listed[0].Warnings[0], "database neo4j succeeded but its consistency check failed to run (exit 2)") {
		t.Fatalf("the store lists %+v; want backup %s complete with the failed consistency checks as its warnings", listed, outcome.BackupID)
	}

	jobName := pod.Labels[batchv1.JobNameLabel]
	err = wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		job, err := w.kube.BatchV1().Jobs(ns).Get(ctx, jobName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Job %s has not completed within 30 s of its pod succeeding", jobName)
	}

	var warning *corev1.Event
	selector := "involvedObject.kind=Namespace,involvedObject.name=" + ns + ",reason=BackupWarnings"
	err = wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := w.kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil || len(events.Items) == 0 {
			return false, nil
		}
		warning = &events.Items[0]
		return true, nil
	})
	if err != nil {
		events, _ := w.kube.CoreV1().Events("").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + ns})
		t.Fatalf("no Warning Event BackupWarnings on namespace %s within 30 s of Job %s completing; its events: %v", ns, jobName, eventMessages(events))
	}
	for _, want := range []string{"backup " + outcome.BackupID, "Neo4j deployment graph", "Job " + jobName, "2 warnings",
		"database neo4j succeeded but its consistency check failed to run (exit 2)", "database system succeeded but its consistency check failed to run (exit 2)"} {
		if !strings.Contains(warning.Message, want) {
			t.Errorf("Event message %q; want it to say %q", warning.Message, want)
		}
	}
	if warning.Type != corev1.EventTypeWarning || warning.Related == nil || warning.Related.Kind != "Job" || warning.Related.Name != jobName {
		t.Errorf("Event %s with related %+v; want a Warning related to Job %s", warning.Type, warning.Related, jobName)
	}
}
