package backup

// The backup metrics (README "Monitoring"): computed when scraped from the
// manager's cache (the backup CronJobs, whole; their Jobs, trimmed) and the
// runs of the finished Jobs (status.go), so that they are what the cluster
// holds, on every replica of serve, from its first scrape after a restart
// or a change of leader. A finished Job's run never changes: it is read
// from the Job's pods once per process, kept by the Job's UID and forgotten
// with the Job.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var metricLabels = []string{"namespace", "deployment"}

func gaugeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("neo4j_backup_"+name, help, metricLabels, nil)
}

var (
	lastSuccessDesc    = gaugeDesc("last_success_timestamp_seconds", "When the last successful backup Job of the deployment finished, in Unix seconds.")
	lastFailureDesc    = gaugeDesc("last_failure_timestamp_seconds", "When the last failed backup Job of the deployment failed, in Unix seconds; absent if no failed Job is left.")
	lastSizeDesc       = gaugeDesc("last_size_bytes", "Size of the last successful backup, in bytes.")
	lastDurationDesc   = gaugeDesc("last_duration_seconds", "How long the last successful backup took, from the start of neo4j-admin to the end of the upload.")
	intervalDesc       = gaugeDesc("schedule_interval_seconds", "The longest gap between two consecutive runs of the backup CronJob's schedule, in its time zone.")
	scheduledSinceDesc = gaugeDesc("scheduled_since_timestamp_seconds", "When the backup CronJob was created, in Unix seconds.")
	missedDesc         = gaugeDesc("missed_schedule", "1 when the latest run the schedule called for more than startingDeadlineSeconds ago has not started, else 0; 0 while suspended.")
	suspendedDesc      = gaugeDesc("suspended", "1 when the backup CronJob is suspended, else 0.")
	lastDrillDesc      = gaugeDesc("last_drill_timestamp_seconds", "When the last restore drill of the deployment finished, in Unix seconds.")
	lastDrillOKDesc    = gaugeDesc("last_drill_success", "1 when the last restore drill passed, 0 when it failed.")
	lastDrillTimeDesc  = gaugeDesc("last_drill_duration_seconds", "How long the last restore drill took.")
)

// runCache holds the runs of finished Jobs by UID: read from their pods
// through live, the API server (the manager's cache holds no pods), the
// first time they are asked for.
type runCache struct {
	live client.Reader

	mu    sync.Mutex
	byUID map[types.UID]Run
}

func newRunCache(live client.Reader) *runCache {
	return &runCache{live: live, byUID: map[types.UID]Run{}}
}

// run is the run of a finished Job; ok is false while it runs.
func (c *runCache) run(ctx context.Context, job *batchv1.Job) (Run, bool, error) {
	c.mu.Lock()
	r, ok := c.byUID[job.UID]
	c.mu.Unlock()
	if ok {
		return r, true, nil
	}
	if !isFinished(job) {
		return Run{}, false, nil
	}
	var pods corev1.PodList
	if err := c.live.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return Run{}, false, fmt.Errorf("listing the pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	r, ok = jobOutcome(job, pods.Items)
	if ok {
		c.mu.Lock()
		c.byUID[job.UID] = r
		c.mu.Unlock()
	}
	return r, ok, nil
}

// keepOnly forgets the runs of Jobs that are gone.
func (c *runCache) keepOnly(uids map[types.UID]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid := range c.byUID {
		if !uids[uid] {
			delete(c.byUID, uid)
		}
	}
}

// runs is the runs of the finished Jobs of backup and drill CronJobs among
// jobs; a Job whose pods cannot be read now is left out, and read again
// next time.
func (c *runCache) runs(ctx context.Context, jobs []batchv1.Job) []Run {
	var runs []Run
	uids := map[types.UID]bool{}
	for i := range jobs {
		job := &jobs[i]
		if backupCronJobOf(job) == "" || job.DeletionTimestamp != nil {
			continue
		}
		uids[job.UID] = true
		if r, ok, err := c.run(ctx, job); err == nil && ok {
			runs = append(runs, r)
		}
	}
	c.keepOnly(uids)
	return runs
}

// outcomeMetrics is the collector of the backup metrics.
type outcomeMetrics struct {
	cache client.Reader
	runs  *runCache
	now   func() time.Time
}

func (m *outcomeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lastSuccessDesc, lastFailureDesc, lastSizeDesc, lastDurationDesc, intervalDesc,
		scheduledSinceDesc, missedDesc, suspendedDesc, lastDrillDesc, lastDrillOKDesc, lastDrillTimeDesc} {
		ch <- d
	}
}

func (m *outcomeMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cronJobs batchv1.CronJobList
	if err := m.cache.List(ctx, &cronJobs, client.MatchingLabels{LabelManagedBy: managedBy}); err != nil {
		return // before the cache has started: no figures, rather than a failed scrape
	}
	var jobs batchv1.JobList
	if err := m.cache.List(ctx, &jobs, client.MatchingLabels{LabelManagedBy: managedBy}); err != nil {
		return
	}
	for _, d := range Summarize(cronJobs.Items, m.runs.runs(ctx, jobs.Items), m.now()) {
		for _, s := range deploymentSeries(d) {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, s.value, d.Namespace, d.Deployment)
		}
	}
}

type series struct {
	desc  *prometheus.Desc
	value float64
}

// deploymentSeries is the series of one deployment: those of what is not
// known (no success yet, no failure left, no drill) are absent.
func deploymentSeries(d DeploymentStatus) []series {
	out := []series{
		{intervalDesc, d.Interval.Seconds()},
		{scheduledSinceDesc, unixSeconds(d.ScheduledSince)},
		{missedDesc, boolValue(!d.MissedRun.IsZero() && !d.Suspended)},
		{suspendedDesc, boolValue(d.Suspended)},
	}
	if !d.LastSuccessTime.IsZero() {
		out = append(out, series{lastSuccessDesc, unixSeconds(d.LastSuccessTime)})
	}
	if s := d.LastSuccess; s != nil && s.Reported {
		out = append(out, series{lastSizeDesc, float64(s.Outcome.Size)}, series{lastDurationDesc, s.Outcome.DurationSeconds})
	}
	if f := d.LastFailure; f != nil {
		out = append(out, series{lastFailureDesc, unixSeconds(f.FinishedAt)})
	}
	if r := d.LastDrill; r != nil {
		out = append(out, series{lastDrillDesc, unixSeconds(r.FinishedAt)}, series{lastDrillOKDesc, boolValue(r.Passed())},
			series{lastDrillTimeDesc, r.DrillOutcome.DurationSeconds})
	}
	return out
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerOutcomeMetrics puts the backup metrics in the manager's registry,
// replacing those of an earlier manager of this process. They are exported
// by every replica, leader or not: the cache runs on each, and alerting
// rules take the max by namespace and deployment.
func registerOutcomeMetrics(cache client.Reader, runs *runCache) error {
	m := &outcomeMetrics{cache: cache, runs: runs, now: time.Now}
	metrics.Registry.Unregister(m)
	return metrics.Registry.Register(m)
}
