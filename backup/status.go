package backup

// The state of each Neo4j deployment's backups, as the metrics (metrics.go)
// and `neo4j-backup status` tell it: derived from the backup CronJobs, their
// status and the runs of the finished Jobs the history limits keep, never
// from memory, so every replica of serve and every caller of status sees the
// same. Pure.

import (
	"cmp"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
)

// DeploymentStatus is one Neo4j deployment's backups.
type DeploymentStatus struct {
	Namespace  string
	Deployment string
	CronJob    string // the backup CronJob
	Schedule   string
	TimeZone   string
	Suspended  bool
	// ScheduledSince is when the backup CronJob was made: the age a
	// deployment that never had a successful backup is overdue by.
	ScheduledSince time.Time
	// Interval is the longest gap between two runs of the schedule.
	Interval time.Duration
	NextRun  time.Time // zero while suspended
	// MissedRun is the latest run the schedule called for that did not
	// start within the CronJob's starting deadline; zero if none.
	MissedRun time.Time
	// LastSuccessTime is when the last successful backup finished: its
	// Job's, or the CronJob status' lastSuccessfulTime once the Job is gone.
	LastSuccessTime time.Time
	// LastSuccess, LastFailure and LastDrill are the newest such runs whose
	// Jobs are left; nil when none is.
	LastSuccess *Run
	LastFailure *Run
	LastDrill   *Run
	// Where the backups go, from the upload container's flags: to list the
	// restore window.
	To, Endpoint, Region string
}

// Summarize is the status of each deployment that has a backup CronJob
// among cronJobs (of any namespaces; a drill CronJob adds nothing by
// itself), from the runs of their finished Jobs, sorted by namespace and
// deployment.
func Summarize(cronJobs []batchv1.CronJob, runs []Run, now time.Time) []DeploymentStatus {
	var out []DeploymentStatus
	for i := range cronJobs {
		cj := &cronJobs[i]
		if !isBackupCronJob(cj.Name) || isDrillCronJob(cj) || cj.DeletionTimestamp != nil {
			continue
		}
		d := DeploymentStatus{
			Namespace:      cj.Namespace,
			Deployment:     cmp.Or(cj.Labels[LabelDeployment], deploymentOf(&cj.Spec.JobTemplate.Spec.Template.Spec)),
			CronJob:        cj.Name,
			Schedule:       cj.Spec.Schedule,
			TimeZone:       "UTC",
			Suspended:      cj.Spec.Suspend != nil && *cj.Spec.Suspend,
			ScheduledSince: cj.CreationTimestamp.Time,
		}
		if cj.Spec.TimeZone != nil && *cj.Spec.TimeZone != "" {
			d.TimeZone = *cj.Spec.TimeZone
		}
		if s, err := cronJobSchedule(cj); err == nil {
			d.Interval = s.intervalOn(now)
			if !d.Suspended {
				d.NextRun = s.next(now)
			}
		}
		if missed, ok := missedRun(cj, now); ok {
			d.MissedRun = missed
		}
		if last := cj.Status.LastSuccessfulTime; last != nil {
			d.LastSuccessTime = last.UTC()
		}
		d.To, d.Endpoint, d.Region = uploadFlag(cj, "--to"), uploadFlag(cj, "--endpoint"), uploadFlag(cj, "--region")
		for j := range runs {
			r := &runs[j]
			if r.Namespace != cj.Namespace {
				continue
			}
			switch {
			case r.Drill && r.Deployment == d.Deployment && d.Deployment != "":
				d.LastDrill = newer(d.LastDrill, r)
			case !r.Drill && r.CronJob == cj.Name && r.Succeeded:
				d.LastSuccess = newer(d.LastSuccess, r)
			case !r.Drill && r.CronJob == cj.Name:
				d.LastFailure = newer(d.LastFailure, r)
			}
		}
		if d.LastSuccess != nil && d.LastSuccess.FinishedAt.After(d.LastSuccessTime) {
			d.LastSuccessTime = d.LastSuccess.FinishedAt.UTC()
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DeploymentStatus) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Deployment, b.Deployment), strings.Compare(a.CronJob, b.CronJob))
	})
	return out
}

// newer is whichever of the two runs finished last (a copy of r when it is).
func newer(have, r *Run) *Run {
	if have != nil && !r.FinishedAt.After(have.FinishedAt) {
		return have
	}
	c := *r
	return &c
}

// uploadFlag is the value of a flag of the CronJob's upload container.
func uploadFlag(cj *batchv1.CronJob, flag string) string {
	for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
		if c.Name != UploadContainer {
			continue
		}
		if i := slices.Index(c.Args, flag); i >= 0 && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
	}
	return ""
}
