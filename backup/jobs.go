package backup

// The Job watch: when a backup Job finishes, read its pod's outcome
// (outcome.go) and say on the Namespace what matters. Now: a Warning Event
// when a backup was uploaded with warnings.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

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
			Labels:            job.Labels,
			OwnerReferences:   job.OwnerReferences,
		},
		Status: batchv1.JobStatus{Conditions: job.Status.Conditions, CompletionTime: job.Status.CompletionTime},
	}, nil
}

// jobWatch reports each finished backup Job once per process. What it
// keeps is the UID of the Jobs it has reported, by Job, forgotten with the
// Job. After serve starts (or another replica takes the lead) it reports
// again, once, those Jobs of each CronJob that finished last before it
// started; the older ones were reported when they finished.
type jobWatch struct {
	cache   client.Reader // the manager's: our Jobs, trimmed
	live    client.Reader // the API server: the Jobs' pods, which the cache does not hold
	events  recorder.EventRecorder
	started time.Time

	mu       sync.Mutex
	reported map[types.NamespacedName]types.UID
}

func setupJobWatch(mgr ctrl.Manager) error {
	j := &jobWatch{
		cache:    mgr.GetClient(),
		live:     mgr.GetAPIReader(),
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

	var pods corev1.PodList
	if err := j.live.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing the pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	run, ok := jobOutcome(job, pods.Items)
	if !ok {
		return reconcile.Result{}, nil
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

// report says on the Job's Namespace what its run left to know: now, the
// warnings of a backup uploaded with them. The Job is the Event's related
// object, so the recorder never folds the Events of two runs into one.
func (j *jobWatch) report(ctx context.Context, job *batchv1.Job, run jobRun) {
	if !run.Succeeded || len(run.Outcome.Warnings) == 0 {
		return
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := j.cache.Get(ctx, client.ObjectKey{Name: job.Namespace}, ns); err != nil {
		ns.Name = job.Namespace // an Event on it by name is still an Event on it
	}
	deployment := run.Deployment
	if deployment == "" {
		deployment = "of CronJob " + backupCronJobOf(job)
	}
	o := run.Outcome
	warnings := fmt.Sprintf("%d warnings", len(o.Warnings))
	if len(o.Warnings) == 1 {
		warnings = "1 warning"
	}
	recordEvent(j.events, ns, job, corev1.EventTypeWarning, ReasonWarnings, "Backup",
		"backup %s of Neo4j deployment %s (Job %s) was uploaded with %s: %s", o.BackupID, deployment, job.Name, warnings, strings.Join(o.Warnings, " | "))
	logf.FromContext(ctx).Info("backup uploaded with warnings", "namespace", job.Namespace, "job", job.Name,
		"deployment", run.Deployment, "backupId", o.BackupID, "warnings", o.Warnings)
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
