package backup

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// A finished Job and its pods in, what its run did out: the upload
// container's termination message is the outcome.
func TestJobOutcome(t *testing.T) {
	s := Settings{Namespace: "shop", Deployment: "Graph.Main", CronJob: cronJobName("Graph.Main"), Neo4jVersion: mustVersion(t, "4.4.40"),
		Databases: []string{"neo4j", "system"}, UploadImage: testImage, Neo4jImage: "neo4j:4.4.40-enterprise", BackupMemory: "1Gi",
		From: []string{"graph-0.graph.shop.svc:6362"}, To: mustURL(t, "s3://backups/neo4j/shop/Graph.Main")}
	template := cronJob(s).Spec.JobTemplate.Spec.Template.Spec
	warned := `{"backupId":"2021-11-11T10:00:00Z","databases":["neo4j","system"],"size":1234,"warnings":["neo4j-admin backup of database neo4j succeeded but its consistency check failed to run (exit 2): the backup is unchecked; see the log"]}`
	clean := `{"backupId":"2021-11-11T10:00:00Z","databases":["neo4j","system"],"size":1234,"warnings":[]}`
	refused := `{"backupId":"2021-11-11T10:00:00Z","error":"backup 2021-11-11T10:00:00Z was not uploaded: it has no backup of database system"}`

	job := func(condition batchv1.JobConditionType) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: s.CronJob + "-29000000", Namespace: "shop", UID: "job-1"}}
		if condition != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: condition, Status: corev1.ConditionTrue}}
		}
		return j
	}
	age := 0
	pod := func(owner types.UID, phase corev1.PodPhase, exit int32, message string) corev1.Pod {
		age++
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("pod-%d", age), CreationTimestamp: metav1.NewTime(time.Unix(int64(age), 0)),
				OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "job", UID: owner}},
			},
			Spec:   template,
			Status: corev1.PodStatus{Phase: phase},
		}
		if exit >= 0 {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: UploadContainer, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: message}}}}
		}
		return p
	}
	tests := []struct {
		name string
		job  *batchv1.Job
		pods []corev1.Pod
		want Run
		done bool
	}{
		{name: "running", job: job(""), pods: []corev1.Pod{pod("job-1", corev1.PodRunning, -1, "")}},
		{name: "complete with warnings", job: job(batchv1.JobComplete), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodSucceeded, 0, warned)},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main", Succeeded: true, Reported: true, Outcome: Outcome{
				BackupID: "2021-11-11T10:00:00Z", Databases: []string{"neo4j", "system"}, Size: 1234,
				Warnings: []string{"neo4j-admin backup of database neo4j succeeded but its consistency check failed to run (exit 2): the backup is unchecked; see the log"}}}},
		{name: "complete after a failed try: the pod that succeeded says", job: job(batchv1.JobComplete), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodFailed, 1, refused), pod("job-1", corev1.PodSucceeded, 0, clean)},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main", Succeeded: true, Reported: true, Outcome: Outcome{
				BackupID: "2021-11-11T10:00:00Z", Databases: []string{"neo4j", "system"}, Size: 1234, Warnings: []string{}}}},
		{name: "failed: the last pod says", job: job(batchv1.JobFailed), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodFailed, 1, "panic: first"), pod("job-1", corev1.PodFailed, 1, refused)},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main", Reported: true, Outcome: Outcome{
				BackupID: "2021-11-11T10:00:00Z", Error: "backup 2021-11-11T10:00:00Z was not uploaded: it has no backup of database system"}}},
		{name: "failed with a crash: the end of its log", job: job(batchv1.JobFailed), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodFailed, 2, "panic: runtime error\n")},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main", Reported: true, Outcome: Outcome{Error: "panic: runtime error"}}},
		{name: "failed in neo4j-admin-backup: upload never ran", job: job(batchv1.JobFailed), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodFailed, -1, "")},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main"}},
		{name: "an upload of an earlier version: no outcome", job: job(batchv1.JobComplete), done: true,
			pods: []corev1.Pod{pod("job-1", corev1.PodSucceeded, 0, "")},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Deployment: "Graph.Main", Succeeded: true}},
		{name: "pods of another Job of that name are not its", job: job(batchv1.JobComplete), done: true,
			pods: []corev1.Pod{pod("job-0", corev1.PodSucceeded, 0, warned)},
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Succeeded: true}},
		{name: "its pods gone", job: job(batchv1.JobComplete), done: true,
			want: Run{Namespace: "shop", Job: job("").Name, UID: "job-1", Succeeded: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := jobOutcome(tt.job, tt.pods)
			if done != tt.done || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("jobOutcome = %+v, %v\nwant %+v, %v", got, done, tt.want, tt.done)
			}
		})
	}
}

// The termination message is one JSON object under Kubernetes' 4 KiB,
// whatever the upload has to say.
func TestTerminationMessage(t *testing.T) {
	if got := string(Succeeded("2021-11-11T10:00:00Z", []string{"neo4j"}, 7, nil).TerminationMessage()); got != `{"backupId":"2021-11-11T10:00:00Z","databases":["neo4j"],"size":7,"warnings":[]}` {
		t.Errorf("success without warnings: %s", got)
	}
	if got := string(Failed("2021-11-11T10:00:00Z", fmt.Errorf("no bucket")).TerminationMessage()); got != `{"backupId":"2021-11-11T10:00:00Z","error":"no bucket"}` {
		t.Errorf("failure: %s", got)
	}
	var many, dbs []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("warning %d: %s", i, strings.Repeat("é", 100)))
		dbs = append(dbs, fmt.Sprintf("database-%03d-%s", i, strings.Repeat("x", 40)))
	}
	for name, o := range map[string]Outcome{
		"many warnings":     Succeeded("2021-11-11T10:00:00Z", []string{"neo4j"}, 7, many),
		"many databases":    Succeeded("2021-11-11T10:00:00Z", dbs, 7, many[:1]),
		"a very long error": Failed("2021-11-11T10:00:00Z", fmt.Errorf("%s", strings.Repeat("ü", 5000))),
	} {
		b := o.TerminationMessage()
		var back Outcome
		if err := json.Unmarshal(b, &back); err != nil || len(b) > terminationMessageMax || back.BackupID != o.BackupID {
			t.Errorf("%s: %d bytes, %v: %.200s", name, len(b), err, b)
		}
		if len(o.Warnings) > 1 && (len(back.Warnings) < 2 || back.Warnings[0] != o.Warnings[0] ||
			!strings.HasPrefix(back.Warnings[len(back.Warnings)-1], fmt.Sprintf("… and %d more warnings", len(o.Warnings)-len(back.Warnings)+1))) {
			t.Errorf("%s: warnings %q; want the first ones and a note of how many more", name, back.Warnings)
		}
	}
}

func mustVersion(t *testing.T, s string) neo4j.Version {
	t.Helper()
	v, err := neo4j.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustURL(t *testing.T, s string) storage.Location {
	t.Helper()
	l, err := storage.ParseLocation(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The Events of a finished run say what happened in the user's words.
func TestRunEvents(t *testing.T) {
	ok := Run{Job: "neo4j-backup-graph-1", Deployment: "graph", Succeeded: true, Reported: true,
		Outcome: Outcome{BackupID: "2021-11-11T10:00:00Z", Databases: []string{"neo4j", "system"}, Size: 3 << 20, DurationSeconds: 133.4, Warnings: []string{}}}
	warned := ok
	warned.Outcome.Warnings = []string{"database neo4j succeeded but its consistency check failed to run (exit 2)"}
	adminFailed := Run{Job: "neo4j-backup-graph-2", Deployment: "graph", FailedContainer: AdminContainer, FailedMessage: "Picked up JAVA_TOOL_OPTIONS\nconnection refused: graph.shop.svc:6362\n"}
	uploadFailed := Run{Job: "neo4j-backup-graph-3", Deployment: "graph", Reported: true,
		Outcome: Outcome{BackupID: "2021-11-11T11:00:00Z", Error: "backup 2021-11-11T11:00:00Z was not uploaded: it has no backup of database neo4j"}}
	gone := Run{Job: "neo4j-backup-graph-4", JobFailure: "DeadlineExceeded: Job was active longer than specified deadline"}
	passed := Run{Job: "neo4j-backup-verify-graph-1", Drill: true, Deployment: "graph", Succeeded: true, Reported: true,
		DrillOutcome: DrillOutcome{BackupID: "2021-11-11T10:00:00Z", Passed: true, Databases: []string{"neo4j"}, DurationSeconds: 60}}
	inconsistent := passed
	inconsistent.DrillOutcome = DrillOutcome{BackupID: "2021-11-11T10:00:00Z", Error: "database neo4j is inconsistent: 3 errors"}
	for _, tt := range []struct {
		run  Run
		want []string // type reason: message
	}{
		{ok, []string{"Normal BackupSucceeded: backup 2021-11-11T10:00:00Z of Neo4j deployment graph: 2 databases, 3.0 MiB, took 2m13s (Job neo4j-backup-graph-1)"}},
		{warned, []string{"Normal BackupSucceeded: backup 2021-11-11T10:00:00Z of Neo4j deployment graph: 2 databases, 3.0 MiB, took 2m13s (Job neo4j-backup-graph-1)",
			"Warning BackupWarnings: backup 2021-11-11T10:00:00Z of Neo4j deployment graph (Job neo4j-backup-graph-1) was uploaded with 1 warning: database neo4j succeeded but its consistency check failed to run (exit 2)"}},
		{adminFailed, []string{"Warning BackupFailed: a backup of Neo4j deployment graph failed (Job neo4j-backup-graph-2): the neo4j-admin-backup container failed: connection refused: graph.shop.svc:6362"}},
		{uploadFailed, []string{"Warning BackupFailed: backup 2021-11-11T11:00:00Z of Neo4j deployment graph failed (Job neo4j-backup-graph-3): backup 2021-11-11T11:00:00Z was not uploaded: it has no backup of database neo4j"}},
		{gone, []string{"Warning BackupFailed: a backup of Neo4j deployment of CronJob neo4j-backup-graph failed (Job neo4j-backup-graph-4): the Job failed: DeadlineExceeded: Job was active longer than specified deadline"}},
		{passed, []string{"Normal DrillPassed: restore drill of backup 2021-11-11T10:00:00Z of Neo4j deployment graph passed (Job neo4j-backup-verify-graph-1): 1 database restored and consistent, took 1m0s"}},
		{inconsistent, []string{"Warning DrillFailed: restore drill of backup 2021-11-11T10:00:00Z of Neo4j deployment graph failed (Job neo4j-backup-verify-graph-1): database neo4j is inconsistent: 3 errors"}},
	} {
		var got []string
		for _, e := range runEvents(tt.run, "neo4j-backup-graph") {
			got = append(got, e.eventType+" "+e.reason+": "+e.message)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("runEvents of %s =\n%q\nwant\n%q", tt.run.Job, got, tt.want)
		}
	}
}

// A drill Job's run is read from its report container.
func TestDrillOutcome(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup-verify-graph-1", Namespace: "shop", UID: "drill-1",
		Labels: componentLabels(ComponentDrill, "graph")}}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{UID: "drill-1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: DrillContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: `{"backupId":"2021-11-11T10:00:00Z","passed":false,"databases":["neo4j"],"error":"database neo4j is inconsistent"}`}}}}}}
	run, ok := jobOutcome(job, []corev1.Pod{pod})
	if !ok || !run.Drill || run.Deployment != "graph" || run.Passed() || run.Reason() != "database neo4j is inconsistent" {
		t.Errorf("jobOutcome = %+v, %v; want a failed drill of graph saying why", run, ok)
	}
}
