package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The metrics are worked out from the CronJobs, the Jobs and their pods'
// termination messages alone: a collector of a fresh process, with an empty
// run cache, exports what one that watched the runs would.
func TestOutcomeMetrics(t *testing.T) {
	now, cronJobs, _ := statusFixture(t)
	cj := &cronJobs[0]
	cj.UID = "cronjob-uid"
	job := func(name string, condition batchv1.JobConditionType, at time.Time) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: cj.Spec.JobTemplate.Labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: condition, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}},
		}
	}
	pod := func(j *batchv1.Job, phase corev1.PodPhase, initExit, exit int32, initMessage, message string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-pod", Namespace: "shop", Labels: map[string]string{batchv1.JobNameLabel: j.Name},
				OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: j.Name, UID: j.UID}}},
			Spec:   cj.Spec.JobTemplate.Spec.Template.Spec,
			Status: corev1.PodStatus{Phase: phase},
		}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: AdminContainer, State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: initExit, Message: initMessage}}}}
		if exit >= 0 {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: UploadContainer, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: message}}}}
		}
		return p
	}
	good := job(cj.Name+"-1", batchv1.JobComplete, time.Date(2026, 3, 1, 3, 5, 0, 0, time.UTC))
	bad := job(cj.Name+"-2", batchv1.JobFailed, now.Add(-10*time.Minute))
	objects := []runtime.Object{cj, good, bad,
		pod(good, corev1.PodSucceeded, 0, 0, "", `{"backupId":"2026-03-01T03:00:00Z","type":"full","databases":["neo4j","system"],"size":4096,"durationSeconds":300.5,"warnings":[]}`),
		pod(bad, corev1.PodFailed, 1, -1, "neo4j-admin: out of memory", ""),
	}
	c := listReader{objects}
	m := &outcomeMetrics{cache: c, runs: newRunCache(c), now: func() time.Time { return now }}
	want := `
# HELP neo4j_backup_last_duration_seconds How long the last successful backup took, from the start of neo4j-admin to the end of the upload.
# TYPE neo4j_backup_last_duration_seconds gauge
neo4j_backup_last_duration_seconds{deployment="graph",namespace="shop"} 300.5
# HELP neo4j_backup_last_failure_timestamp_seconds When the last failed backup Job of the deployment failed, in Unix seconds; absent if no failed Job is left.
# TYPE neo4j_backup_last_failure_timestamp_seconds gauge
neo4j_backup_last_failure_timestamp_seconds{deployment="graph",namespace="shop"} 1.7724216e+09
# HELP neo4j_backup_last_size_bytes Size of the last successful backup, in bytes.
# TYPE neo4j_backup_last_size_bytes gauge
neo4j_backup_last_size_bytes{deployment="graph",namespace="shop"} 4096
# HELP neo4j_backup_last_success_timestamp_seconds When the last successful backup Job of the deployment finished, in Unix seconds.
# TYPE neo4j_backup_last_success_timestamp_seconds gauge
neo4j_backup_last_success_timestamp_seconds{deployment="graph",namespace="shop"} 1.7723343e+09
# HELP neo4j_backup_missed_schedule 1 when the latest run the schedule called for more than startingDeadlineSeconds ago has not started, else 0; 0 while suspended.
# TYPE neo4j_backup_missed_schedule gauge
neo4j_backup_missed_schedule{deployment="graph",namespace="shop"} 0
# HELP neo4j_backup_schedule_interval_seconds The longest gap between two consecutive runs of the backup CronJob's schedule, in its time zone.
# TYPE neo4j_backup_schedule_interval_seconds gauge
neo4j_backup_schedule_interval_seconds{deployment="graph",namespace="shop"} 86400
# HELP neo4j_backup_scheduled_since_timestamp_seconds When the backup CronJob was created, in Unix seconds.
# TYPE neo4j_backup_scheduled_since_timestamp_seconds gauge
neo4j_backup_scheduled_since_timestamp_seconds{deployment="graph",namespace="shop"} 1.7722494e+09
# HELP neo4j_backup_suspended 1 when the backup CronJob is suspended, else 0.
# TYPE neo4j_backup_suspended gauge
neo4j_backup_suspended{deployment="graph",namespace="shop"} 0
`
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&got, f); err != nil {
			t.Fatal(err)
		}
	}
	if got.String() != strings.TrimPrefix(want, "\n") {
		t.Errorf("metrics:\n%s\nwant:\n%s", got.String(), want)
	}
	run, ok, err := m.runs.run(t.Context(), bad)
	if err != nil || !ok || run.Reason() != "the neo4j-admin-backup container failed: neo4j-admin: out of memory" {
		t.Errorf("the failed run's reason is %q (%v, %v); want the neo4j-admin-backup container's message", run.Reason(), ok, err)
	}
}

// listReader is a client.Reader of fixed objects, for List alone, as the
// collector reads: by namespace and labels.
type listReader struct{ objects []runtime.Object }

func (r listReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("listReader: Get")
}

func (r listReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var o client.ListOptions
	o.ApplyOptions(opts)
	keep := func(obj client.Object) bool {
		return (o.Namespace == "" || obj.GetNamespace() == o.Namespace) &&
			(o.LabelSelector == nil || o.LabelSelector.Matches(labels.Set(obj.GetLabels())))
	}
	for _, obj := range r.objects {
		switch l := list.(type) {
		case *batchv1.CronJobList:
			if x, ok := obj.(*batchv1.CronJob); ok && keep(x) {
				l.Items = append(l.Items, *x)
			}
		case *batchv1.JobList:
			if x, ok := obj.(*batchv1.Job); ok && keep(x) {
				l.Items = append(l.Items, *x)
			}
		case *corev1.PodList:
			if x, ok := obj.(*corev1.Pod); ok && keep(x) {
				l.Items = append(l.Items, *x)
			}
		default:
			return fmt.Errorf("listReader: %T", list)
		}
	}
	return nil
}
