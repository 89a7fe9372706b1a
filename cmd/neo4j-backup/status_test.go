package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/internal/golden"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// statusNow is the time status is asked at: the seeded runs are from
// before it. The real clock is later, so no seeded CronJob is due a run the
// CronJob controller would start.
var statusNow = time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC)

// seeded makes what a cluster holds, through the real apiserver: CronJobs
// as the reconciler makes them (and one of an earlier version), their
// finished Jobs and pods with the termination messages the containers
// write. The Jobs are managed by another controller than the job
// controller, so their status is what the test writes.
type seeded struct {
	t    *testing.T
	kube *kubernetes.Clientset
}

func (s seeded) namespace(name string) {
	s.t.Helper()
	if _, err := s.kube.CoreV1().Namespaces().Create(s.t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

func (s seeded) cronJob(ns, name string, labels map[string]string, schedule string, suspend bool, uploadArgs ...string) *batchv1.CronJob {
	s.t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule, TimeZone: ptr.To("UTC"), Suspend: ptr.To(suspend), StartingDeadlineSeconds: ptr.To[int64](300),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{
						{Name: backup.UploadContainer, Image: "neo4j-backup:test", Args: append([]string{"upload"}, uploadArgs...)}}},
				}},
			},
		},
	}
	cj, err := s.kube.BatchV1().CronJobs(ns).Create(s.t.Context(), cj, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return cj
}

// run is a finished Job of cj and its pod, whose containers ended as
// statuses say.
func (s seeded) run(cj *batchv1.CronJob, name string, ok bool, finished time.Time, initStatus *corev1.ContainerStatus, status *corev1.ContainerStatus) {
	s.t.Helper()
	ctx := s.t.Context()
	labels := cj.Spec.JobTemplate.Labels
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cj.Namespace, Labels: labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
		Spec: batchv1.JobSpec{
			ManagedBy: ptr.To("neo4j-backup.io/status-test"),
			Template:  *cj.Spec.JobTemplate.Spec.Template.DeepCopy(),
		},
	}
	job, err := s.kube.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	start, at := metav1.NewTime(finished.Add(-5*time.Minute)), metav1.NewTime(finished)
	job.Status.StartTime = &start
	testcluster.FinishJob(job, ok, at)
	if _, err := s.kube.BatchV1().Jobs(cj.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	podLabels := map[string]string{batchv1.JobNameLabel: job.Name}
	for k, v := range labels {
		podLabels[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-pod", Namespace: cj.Namespace, Labels: podLabels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}},
		Spec: job.Spec.Template.Spec,
	}
	if initStatus != nil {
		pod.Spec.InitContainers = []corev1.Container{{Name: initStatus.Name, Image: "neo4j:5.26.0-enterprise"}}
	}
	pod, err = s.kube.CoreV1().Pods(cj.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodFailed
	if ok {
		pod.Status.Phase = corev1.PodSucceeded
	}
	if initStatus != nil {
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{*initStatus}
	}
	if status != nil {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{*status}
	}
	if _, err := s.kube.CoreV1().Pods(cj.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

func terminated(name string, exit int32, message string) *corev1.ContainerStatus {
	return &corev1.ContainerStatus{Name: name, Image: "image", ImageID: "image", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: exit, Message: message, StartedAt: metav1.NewTime(statusNow.Add(-time.Hour)), FinishedAt: metav1.NewTime(statusNow.Add(-time.Hour))}}}
}

func componentLabels(component, deployment string) map[string]string {
	return map[string]string{backup.LabelManagedBy: "neo4j-backup", backup.LabelName: "neo4j-backup",
		backup.LabelComponent: component, backup.LabelDeployment: deployment}
}

// TestStatus seeds a cluster and S3 and prints status in each format:
// namespace status-shop has deployment graph, whose last run failed in
// neo4j-admin after an earlier success, with a passed drill and two
// complete backups in S3; namespace status-legacy has a suspended CronJob
// of an earlier version (no labels) whose S3 endpoint does not answer.
//
// The cluster is the test's own, with no serve: serve's reconciler would
// remove backup CronJobs from namespaces without a schedule.
func TestStatus(t *testing.T) {
	c := testcluster.Start(t)
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	s := seeded{t: t, kube: c.Kube}

	dest := "s3://" + srv.Bucket + "/neo4j/status-shop/graph"
	src := t.TempDir()
	testfiles.WriteAll(t, src, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system"})
	for _, id := range []string{"2026-02-28T03:15:00Z", "2026-03-01T03:15:00Z"} {
		if code, _, stderr := cli(t, "upload", "--from", src, "--to", dest, "--id", id); code != 0 {
			t.Fatalf("seeding backup %s: %s", id, stderr)
		}
	}

	s.namespace("status-shop")
	graph := s.cronJob("status-shop", "neo4j-backup-graph", componentLabels(backup.ComponentBackup, "graph"), "15 3 * * 0", false,
		"--to", dest, "--endpoint", srv.Endpoint, "--region", s3test.Region)
	s.run(graph, "neo4j-backup-graph-1", true, statusNow.Add(-24*time.Hour-10*time.Minute), nil, terminated(backup.UploadContainer, 0,
		`{"backupId":"2026-03-01T03:15:00Z","type":"full","databases":["neo4j","system"],"size":11,"durationSeconds":312.5,"warnings":[]}`))
	s.run(graph, "neo4j-backup-graph-2", false, statusNow.Add(-10*time.Minute),
		terminated(backup.AdminContainer, 1, "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nConnection refused: graph.status-shop.svc:6362"), nil)
	drill := s.cronJob("status-shop", backup.DrillNamePrefix+"graph", componentLabels(backup.ComponentDrill, "graph"), "0 5 * * 0", false)
	s.run(drill, backup.DrillNamePrefix+"graph-1", true, statusNow.Add(-22*time.Hour), nil, terminated(backup.DrillContainer, 0,
		`{"backupId":"2026-03-01T03:15:00Z","passed":true,"databases":["neo4j","system"],"durationSeconds":95}`))

	s.namespace("status-legacy")
	legacy := s.cronJob("status-legacy", backup.Name, map[string]string{backup.LabelManagedBy: "neo4j-backup"}, "0 */6 * * *", true,
		"--to", "s3://elsewhere/neo4j/status-legacy/old-graph", "--endpoint", "http://127.0.0.1:1", "--region", s3test.Region)
	s.run(legacy, "neo4j-backup-1", true, statusNow.Add(-50*24*time.Hour), nil, terminated(backup.UploadContainer, 0, ""))

	for _, format := range []string{"table", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := statusOptions{output: format, kubeconfig: c.Kubeconfig, s3: &s3Flags{parallel: 1}, s3Timeout: 5 * time.Second,
				now: func() time.Time { return statusNow }}
			var all []string
			for _, ns := range []string{"status-shop", "status-legacy"} {
				o.namespace = ns
				out.Reset()
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				err := runStatus(ctx, o, &out, &errOut)
				cancel()
				if err != nil {
					t.Fatalf("status -n %s -o %s: %v", ns, format, err)
				}
				all = append(all, "$ neo4j-backup status -n "+ns+" -o "+format+"\n"+out.String())
			}
			text := strings.NewReplacer(srv.Bucket, "BUCKET", srv.Endpoint, "ENDPOINT").Replace(strings.Join(all, "\n"))
			golden.Compare(t, filepath.Join("testdata", "status", format+".golden.yaml"), map[string]string{"output": text})
		})
	}
}
