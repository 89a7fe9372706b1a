package backup

import (
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// statusFixture is a backup CronJob of deployment graph in shop, made a
// day before now, that last started at 03:00 today, and the runs of its
// Jobs: a success yesterday, a failure today, and a drill that failed.
func statusFixture(t *testing.T) (now time.Time, cronJobs []batchv1.CronJob, runs []Run) {
	now = time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC)
	s := Settings{Namespace: "shop", Deployment: "graph", CronJob: cronJobName("graph"), Neo4jVersion: mustVersion(t, "5.26.0"),
		Schedule: "0 3 * * *", TimeZone: "UTC", Databases: []string{"neo4j", "system"}, UploadImage: testImage,
		Neo4jImage: "neo4j:5.26.0-enterprise", BackupMemory: "1Gi", From: []string{"graph.shop.svc:6362"},
		To: mustURL(t, "s3://backups/neo4j/shop/graph"), Endpoint: "minio.example:9000", Region: "eu-west-1"}
	cj := *cronJob(s)
	cj.CreationTimestamp = metav1.NewTime(now.Add(-48 * time.Hour))
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)))
	yesterday := time.Date(2026, 3, 1, 3, 5, 0, 0, time.UTC)
	runs = []Run{
		{Namespace: "shop", Job: s.CronJob + "-1", CronJob: s.CronJob, Deployment: "graph", Succeeded: true, FinishedAt: yesterday, Reported: true,
			Outcome: Outcome{BackupID: "2026-03-01T03:00:00Z", Type: TypeFull, Databases: []string{"neo4j", "system"}, Size: 4096, DurationSeconds: 300}},
		{Namespace: "shop", Job: s.CronJob + "-2", CronJob: s.CronJob, Deployment: "graph", FinishedAt: now.Add(-20 * time.Minute), Reported: true,
			Outcome: Outcome{BackupID: "2026-03-02T03:00:00Z", Error: "backup 2026-03-02T03:00:00Z was not uploaded: it has no backup of database system"}},
		{Namespace: "shop", Job: DrillNamePrefix + "graph-1", CronJob: DrillNamePrefix + "graph", Drill: true, Deployment: "graph", Succeeded: true,
			FinishedAt: yesterday.Add(time.Hour), Reported: true, DrillOutcome: DrillOutcome{BackupID: "2026-03-01T03:00:00Z", Databases: []string{"neo4j"}, DurationSeconds: 60, Error: "database neo4j is inconsistent"}},
		// Another namespace's Job of a CronJob of the same name is not its.
		{Namespace: "other", Job: s.CronJob + "-9", CronJob: s.CronJob, Deployment: "graph", Succeeded: true, FinishedAt: now},
	}
	return now, []batchv1.CronJob{cj}, runs
}

func TestSummarize(t *testing.T) {
	now, cronJobs, runs := statusFixture(t)
	got := Summarize(cronJobs, runs, now)
	want := []DeploymentStatus{{
		Namespace: "shop", Deployment: "graph", CronJob: "neo4j-backup-graph", Schedule: "0 3 * * *", TimeZone: "UTC",
		ScheduledSince: now.Add(-48 * time.Hour), Interval: 24 * time.Hour, NextRun: time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC),
		LastSuccessTime: runs[0].FinishedAt, LastSuccess: &runs[0], LastFailure: &runs[1], LastDrill: &runs[2],
		To: "s3://backups/neo4j/shop/graph", Endpoint: "minio.example:9000", Region: "eu-west-1",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summarize =\n%+v\nwant\n%+v", got, want)
	}
	if got[0].LastDrill.Passed() || got[0].LastDrill.Reason() != "database neo4j is inconsistent" {
		t.Errorf("the drill passed %v, reason %q; want it failed, saying why", got[0].LastDrill.Passed(), got[0].LastDrill.Reason())
	}

	// Once yesterday's Job is gone, the CronJob's status still says when
	// the last success was; and a run due at 03:00 that did not start is
	// missed.
	cronJobs[0].Status.LastSuccessfulTime = ptr.To(metav1.NewTime(runs[0].FinishedAt))
	cronJobs[0].Status.LastScheduleTime = ptr.To(metav1.NewTime(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)))
	got = Summarize(cronJobs, runs[1:], now)
	if !got[0].LastSuccessTime.Equal(runs[0].FinishedAt) || got[0].LastSuccess != nil {
		t.Errorf("without its Job, the last success is %s (%+v); want %s from the CronJob's status", got[0].LastSuccessTime, got[0].LastSuccess, runs[0].FinishedAt)
	}
	if want := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC); !got[0].MissedRun.Equal(want) {
		t.Errorf("missed run %s, want %s", got[0].MissedRun, want)
	}

	// A drill CronJob makes no deployment of its own.
	drill := cronJobs[0]
	drill.Name, drill.Labels = DrillNamePrefix+"graph", componentLabels(ComponentDrill, "graph")
	if got := Summarize([]batchv1.CronJob{drill}, runs, now); len(got) != 0 {
		t.Errorf("a drill CronJob alone gives %+v; want nothing", got)
	}
}
