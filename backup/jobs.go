package backup

// The Job watch: when a Job of a backup or restore drill CronJob finishes,
// read its pod's outcome (outcome.go) and say on the Namespace how it went;
// and the schedule watch: say when a backup CronJob missed a run. Both run
// on the leader only, so each Event is said once; the metrics (metrics.go)
// are on every replica.

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// ReasonWarnings is the Warning Event of a backup that was uploaded with
// warnings (4.x: its consistency check failed or found inconsistencies;
// 5.x: neo4j-admin exited 1 with every artifact written).
const ReasonWarnings = "BackupWarnings"

// Reasons of the Events of finished runs and missed schedules, on the
// Namespace; the Job (or, for a missed run, the CronJob) is the related
// object.
const (
	ReasonSucceeded   = "BackupSucceeded"
	ReasonFailed      = "BackupFailed"
	ReasonMissed      = "BackupMissed"
	ReasonDrillPassed = "DrillPassed"
	ReasonDrillFailed = "DrillFailed"
)

// trimJob keeps of a Job what the Job watch reads: its name, UID, owners
// and labels, and whether and when it finished.
func trimJob(in any) (any, error) {
	job, ok := in.(*batchv1.Job)
	if !ok {
		return in, nil
	}
	return &batchv1.Job{
		TypeMeta: job.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              job.Name,
			Namespace:         job.Namespace,
			UID:               job.UID,
			ResourceVersion:   job.ResourceVersion,
			DeletionTimestamp: job.DeletionTimestamp,
			CreationTimestamp: job.CreationTimestamp,
			Labels:            job.Labels,
			OwnerReferences:   job.OwnerReferences,
		},
		Status: batchv1.JobStatus{Conditions: job.Status.Conditions, CompletionTime: job.Status.CompletionTime, StartTime: job.Status.StartTime},
	}, nil
}

// jobWatch reports each finished backup Job once per process. What it
// keeps is the UID of the Jobs it has reported, by Job, forgotten with the
// Job. After serve starts (or another replica takes the lead) it reports
// again, once, those Jobs of each CronJob that finished last before it
// started; the older ones were reported when they finished.
type jobWatch struct {
	cache   client.Reader // the manager's: our Jobs, trimmed
	runs    *runCache     // the Jobs' runs, read from their pods, shared with the metrics
	events  recorder.EventRecorder
	started time.Time

	mu       sync.Mutex
	reported map[types.NamespacedName]types.UID
}

func setupJobWatch(mgr ctrl.Manager) error {
	runs := newRunCache(mgr.GetAPIReader())
	if err := registerOutcomeMetrics(mgr.GetCache(), runs); err != nil {
		return err
	}
	if err := setupScheduleWatch(mgr); err != nil {
		return err
	}
	j := &jobWatch{
		cache:    mgr.GetClient(),
		runs:     runs,
		events:   mgr.GetEventRecorder("neo4j-backup"),
		started:  time.Now(),
		reported: map[types.NamespacedName]types.UID{},
	}
	// Only what can change the answer: a Job that finished (or changed
	// while finished), and its deletion, to forget it.
	finishedOrGone := predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return isFinished(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return isFinished(e.ObjectNew) },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("backup-jobs").
		For(&batchv1.Job{}, builder.WithPredicates(finishedOrGone)).
		Complete(j)
}

func isFinished(o client.Object) bool {
	job, ok := o.(*batchv1.Job)
	if !ok {
		return false
	}
	succeeded, failed := finished(job)
	return succeeded || failed
}

func (j *jobWatch) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	job := &batchv1.Job{}
	if err := j.cache.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			j.mu.Lock()
			delete(j.reported, req.NamespacedName)
			j.mu.Unlock()
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	cronJob := backupCronJobOf(job)
	if cronJob == "" || job.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	j.mu.Lock()
	done := j.reported[req.NamespacedName] == job.UID
	j.mu.Unlock()
	if done {
		return reconcile.Result{}, nil
	}
	if at := finishedAt(job); at.Before(j.started) {
		newest, err := j.newestFinished(ctx, job.Namespace, cronJob)
		if err != nil {
			return reconcile.Result{}, err
		}
		if newest != job.UID {
			j.remember(req.NamespacedName, job.UID)
			return reconcile.Result{}, nil
		}
	}

	run, ok, err := j.runs.run(ctx, job)
	if err != nil || !ok {
		return reconcile.Result{}, err
	}
	j.report(ctx, job, run)
	j.remember(req.NamespacedName, job.UID)
	return reconcile.Result{}, nil
}

func (j *jobWatch) remember(key types.NamespacedName, uid types.UID) {
	j.mu.Lock()
	j.reported[key] = uid
	j.mu.Unlock()
}

// report says on the Job's Namespace how the run went: a backup uploaded
// (and its warnings, if any) or failed, a drill passed or failed. The Job
// is the Event's related object, so the recorder never folds the Events of
// two runs into one.
func (j *jobWatch) report(ctx context.Context, job *batchv1.Job, run Run) {
	ns := j.namespace(ctx, job.Namespace)
	for _, e := range runEvents(run, backupCronJobOf(job)) {
		recordEvent(j.events, ns, job, e.eventType, e.reason, e.action, "%s", e.message)
	}
	log := logf.FromContext(ctx).WithValues("namespace", job.Namespace, "job", job.Name, "deployment", run.Deployment)
	switch {
	case run.Drill:
		log.Info("restore drill finished", "passed", run.Passed(), "backupId", run.DrillOutcome.BackupID, "reason", run.Reason())
	case run.Succeeded:
		log.Info("backup finished", "backupId", run.Outcome.BackupID, "size", run.Outcome.Size, "warnings", run.Outcome.Warnings)
	default:
		log.Info("backup failed", "backupId", run.Outcome.BackupID, "reason", run.Reason())
	}
}

// namespace is the Namespace an Event is about: from the cache, or by name.
func (j *jobWatch) namespace(ctx context.Context, name string) *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := j.cache.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		ns.Name = name // an Event on it by name is still an Event on it
	}
	return ns
}

// runEvent is one Event a finished run makes.
type runEvent struct {
	eventType, reason, action, message string
}

// runEvents are the Events of a finished run of CronJob cronJob. Pure.
func runEvents(run Run, cronJob string) []runEvent {
	deployment := run.Deployment
	if deployment == "" {
		deployment = "of CronJob " + cronJob
	}
	if run.Drill {
		o := run.DrillOutcome
		backup := "the newest backup"
		if o.BackupID != "" {
			backup = "backup " + o.BackupID
		}
		if run.Passed() {
			return []runEvent{{corev1.EventTypeNormal, ReasonDrillPassed, "Drill", fmt.Sprintf(
				"restore drill of %s of Neo4j deployment %s passed (Job %s): %s restored and consistent, %s",
				backup, deployment, run.Job, count(len(o.Databases), "database"), seconds(o.DurationSeconds))}}
		}
		return []runEvent{{corev1.EventTypeWarning, ReasonDrillFailed, "Drill", fmt.Sprintf(
			"restore drill of %s of Neo4j deployment %s failed (Job %s): %s", backup, deployment, run.Job, run.Reason())}}
	}
	o := run.Outcome
	if !run.Succeeded {
		backup := "a backup"
		if o.BackupID != "" {
			backup = "backup " + o.BackupID
		}
		return []runEvent{{corev1.EventTypeWarning, ReasonFailed, "Backup", fmt.Sprintf(
			"%s of Neo4j deployment %s failed (Job %s): %s", backup, deployment, run.Job, run.Reason())}}
	}
	if !run.Reported {
		return []runEvent{{corev1.EventTypeNormal, ReasonSucceeded, "Backup", fmt.Sprintf(
			"a backup of Neo4j deployment %s succeeded (Job %s); its upload container left no outcome (an earlier version)", deployment, run.Job)}}
	}
	events := []runEvent{{corev1.EventTypeNormal, ReasonSucceeded, "Backup", fmt.Sprintf(
		"backup %s of Neo4j deployment %s: %s, %s, %s (Job %s)",
		o.BackupID, deployment, count(len(o.Databases), "database"), humanize.IBytes(uint64(max(o.Size, 0))), seconds(o.DurationSeconds), run.Job)}}
	if len(o.Warnings) > 0 {
		events = append(events, runEvent{corev1.EventTypeWarning, ReasonWarnings, "Backup", fmt.Sprintf(
			"backup %s of Neo4j deployment %s (Job %s) was uploaded with %s: %s",
			o.BackupID, deployment, run.Job, count(len(o.Warnings), "warning"), strings.Join(o.Warnings, " | "))})
	}
	return events
}

// count is "1 database", "2 databases".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// seconds is a duration to the second, "took 2m13s"; "duration unknown"
// when the run did not say.
func seconds(s float64) string {
	if s <= 0 {
		return "duration unknown"
	}
	return "took " + (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

// newestFinished is the UID of the Job of the CronJob that finished last.
func (j *jobWatch) newestFinished(ctx context.Context, namespace, cronJob string) (types.UID, error) {
	var jobs batchv1.JobList
	if err := j.cache.List(ctx, &jobs, client.InNamespace(namespace)); err != nil {
		return "", err
	}
	var newest *batchv1.Job
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if backupCronJobOf(job) != cronJob || !isFinished(job) {
			continue
		}
		if newest == nil || finishedAt(newest).Before(finishedAt(job)) {
			newest = job
		}
	}
	if newest == nil {
		return "", nil
	}
	return newest.UID, nil
}

// finishedAt is when the Job finished: the time of its Complete or Failed
// condition.
func finishedAt(job *batchv1.Job) time.Time {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// backupCronJobOf is the backup CronJob that made the Job, "" for another
// Job with our label.
func backupCronJobOf(job *batchv1.Job) string {
	if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" && isBackupCronJob(ref.Name) {
		return ref.Name
	}
	return ""
}

// scheduleWatch says, with a Warning Event BackupMissed on the Namespace,
// when a backup CronJob's run did not start within its starting deadline:
// once per missed run and process (a new leader says the latest missed run
// again). No object changes when a run is missed, so it looks again when
// the next run's deadline passes.
type scheduleWatch struct {
	cache  client.Reader
	events recorder.EventRecorder
	now    func() time.Time

	mu       sync.Mutex
	reported map[types.NamespacedName]time.Time // the missed run last reported
}

func setupScheduleWatch(mgr ctrl.Manager) error {
	s := &scheduleWatch{
		cache:    mgr.GetClient(),
		events:   mgr.GetEventRecorder("neo4j-backup"),
		now:      time.Now,
		reported: map[types.NamespacedName]time.Time{},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("backup-schedules").
		For(&batchv1.CronJob{}).
		Complete(s)
}

// missedCheckSlack lets the CronJob controller record a run that started
// right at its deadline before the run is called missed.
const missedCheckSlack = 5 * time.Second

func (s *scheduleWatch) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cj := &batchv1.CronJob{}
	if err := s.cache.Get(ctx, req.NamespacedName, cj); err != nil {
		if apierrors.IsNotFound(err) {
			s.mu.Lock()
			delete(s.reported, req.NamespacedName)
			s.mu.Unlock()
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !isBackupCronJob(cj.Name) || isDrillCronJob(cj) || cj.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	now := s.now()
	if missed, ok := missedRun(cj, now.Add(-missedCheckSlack)); ok {
		s.mu.Lock()
		news := !s.reported[req.NamespacedName].Equal(missed)
		s.reported[req.NamespacedName] = missed
		s.mu.Unlock()
		if news {
			s.reportMissed(ctx, cj, missed)
		}
	}
	next, ok := nextMissCheck(cj, now)
	if !ok {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{RequeueAfter: max(next.Sub(now)+missedCheckSlack, time.Second)}, nil
}

func (s *scheduleWatch) reportMissed(ctx context.Context, cj *batchv1.CronJob, missed time.Time) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := s.cache.Get(ctx, client.ObjectKey{Name: cj.Namespace}, ns); err != nil {
		ns.Name = cj.Namespace
	}
	recordEvent(s.events, ns, cj, corev1.EventTypeWarning, ReasonMissed, "Schedule", "%s", missedMessage(cj, missed))
	logf.FromContext(ctx).Info("backup run missed", "namespace", cj.Namespace, "cronJob", cj.Name, "scheduledFor", missed)
}

// missedMessage says which run of which deployment's backup did not start
// and where to look. Pure.
func missedMessage(cj *batchv1.CronJob, missed time.Time) string {
	deployment := cmp.Or(cj.Labels[LabelDeployment], deploymentOf(&cj.Spec.JobTemplate.Spec.Template.Spec), "of CronJob "+cj.Name)
	last := "it never started a run"
	if t := cj.Status.LastScheduleTime; t != nil {
		last = "its last run started at " + t.UTC().Format(time.RFC3339)
	}
	deadline := int64(0)
	if cj.Spec.StartingDeadlineSeconds != nil {
		deadline = *cj.Spec.StartingDeadlineSeconds
	}
	return fmt.Sprintf("the backup of Neo4j deployment %s due at %s did not start within %ds (CronJob %s; %s): "+
		"a run still going holds it back (concurrencyPolicy Forbid), or the CronJob controller is not running",
		deployment, missed.UTC().Format(time.RFC3339), deadline, cj.Name, last)
}
