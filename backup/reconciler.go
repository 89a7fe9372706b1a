package backup

// The reconciler: read a namespace, its StatefulSets and its CronJob from
// the manager's cache, decide (settings.go), and write only what changed, by
// server-side apply as field manager neo4j-backup.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// fieldManager owns the fields of the CronJob the reconciler applies.
const fieldManager = "neo4j-backup"

// Reasons of the Events on a Namespace. Normal: what happened to its
// CronJob.
const (
	ReasonCreated = "BackupCronJobCreated"
	ReasonUpdated = "BackupCronJobUpdated"
	ReasonRemoved = "BackupCronJobRemoved"
	// Of the restore drill's CronJob (drill.go).
	ReasonDrillCreated = "DrillCronJobCreated"
	ReasonDrillUpdated = "DrillCronJobUpdated"
	// ReasonDrillNameTaken warns of a drill whose name is another
	// deployment's backup CronJob (deployments x and verify-x).
	ReasonDrillNameTaken = "DrillCronJobNameTaken"
)

var cronJobsManagedDesc = prometheus.NewDesc("neo4j_backup_cronjobs_managed",
	"Backup CronJobs in place, one per Neo4j deployment in namespaces annotated with "+annotations.Schedule+"; counted in the cache at scrape time.", nil, nil)

// managedCronJobs derives neo4j_backup_cronjobs_managed from the cache when
// it is scraped, so the figure is what is in the cluster, whoever made or
// removed the CronJobs and whichever replica answers.
type managedCronJobs struct{ cache client.Reader }

func (c managedCronJobs) Describe(ch chan<- *prometheus.Desc) { ch <- cronJobsManagedDesc }

func (c managedCronJobs) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list batchv1.CronJobList
	if err := c.cache.List(ctx, &list, client.MatchingLabels{LabelManagedBy: managedBy}); err != nil {
		// Before the cache has started there is no figure to give; an
		// invalid metric would fail the whole scrape, so give none.
		return
	}
	n := 0
	for _, cj := range list.Items {
		// Backups only: a restore drill is no backup.
		if isBackupCronJob(cj.Name) && !isDrillCronJob(&cj) && cj.DeletionTimestamp == nil {
			n++
		}
	}
	ch <- prometheus.MustNewConstMetric(cronJobsManagedDesc, prometheus.GaugeValue, float64(n))
}

// registerMetrics puts the reconciler's metrics in the manager's registry,
// replacing those of an earlier manager of this process.
func registerMetrics(cache client.Reader) error {
	c := managedCronJobs{cache: cache}
	metrics.Registry.Unregister(c)
	return metrics.Registry.Register(c)
}

// CacheByObject is how the manager's cache must hold what the reconciler
// reads; pass it as cache.Options.ByObject. It holds only the CronJobs the
// reconciler made (by label), whole: their managed fields say which fields it
// applied. StatefulSets, of which a cluster may have many and large, are held
// trimmed to what the reconciler reads (trimStatefulSet): nothing else in the
// manager may read StatefulSets from its cache. Jobs, of the backup CronJobs
// only (by label), are trimmed to what the Job watch reads (trimJob).
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&batchv1.CronJob{}:    {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})},
		&appsv1.StatefulSet{}: {Transform: trimStatefulSet},
		&batchv1.Job{}:        {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy}), Transform: trimJob},
	}
}

// trimStatefulSet keeps of a StatefulSet what planBackups and the watch's
// predicates read: its name, labels, annotations, generation and deletion,
// its governing Service, replicas and ordinals, and of its pod template the
// labels, annotations, service account, pull secrets and the containers'
// names, images and the env vars that say a Neo4j member's role and
// address (neo4j.DeploymentEnv, literal values only).
func trimStatefulSet(in any) (any, error) {
	sts, ok := in.(*appsv1.StatefulSet)
	if !ok {
		return in, nil
	}
	pod := sts.Spec.Template.Spec
	containers := make([]corev1.Container, len(pod.Containers))
	for i, c := range pod.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
		for _, e := range c.Env {
			if e.ValueFrom == nil && slices.Contains(neo4j.DeploymentEnv, e.Name) {
				containers[i].Env = append(containers[i].Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
			}
		}
	}
	return &appsv1.StatefulSet{
		TypeMeta: sts.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              sts.Name,
			Namespace:         sts.Namespace,
			UID:               sts.UID,
			ResourceVersion:   sts.ResourceVersion,
			Generation:        sts.Generation,
			DeletionTimestamp: sts.DeletionTimestamp,
			Labels:            sts.Labels,
			Annotations:       sts.Annotations,
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    sts.Spec.Replicas,
			Ordinals:    sts.Spec.Ordinals,
			ServiceName: sts.Spec.ServiceName,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sts.Spec.Template.Labels, Annotations: sts.Spec.Template.Annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName: pod.ServiceAccountName,
					ImagePullSecrets:   pod.ImagePullSecrets,
					Containers:         containers,
				},
			},
		},
	}, nil
}

// Setup registers the backup reconciler and the Job watch (jobs.go) with mgr,
// whose cache was made with CacheByObject. Like every controller of a manager it runs only on the
// replica that holds the leader lease when leader election is on.
func Setup(mgr ctrl.Manager, cfg Config) error {
	r := &reconciler{
		client:   mgr.GetClient(),
		live:     mgr.GetAPIReader(),
		events:   mgr.GetEventRecorder("neo4j-backup"),
		cfg:      cfg,
		warnings: map[string]map[string]string{},
	}
	if err := registerMetrics(mgr.GetCache()); err != nil {
		return err
	}
	if err := setupJobWatch(mgr); err != nil {
		return err
	}
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("backup").
		For(&corev1.Namespace{}, builder.OnlyMetadata, builder.WithPredicates(scheduleChanged)).
		// A StatefulSet's status changes often and says nothing the CronJobs
		// are made from; its spec (generation), labels (which deployment)
		// and annotations do.
		Watches(&appsv1.StatefulSet{}, toNamespace, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&batchv1.CronJob{}, toNamespace, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// Reconciles mostly wait on the API server; a few at once keep a
		// thousand namespaces to seconds. One namespace is never reconciled
		// twice at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// scheduleChanged passes the Namespace events that can change a backup: of
// namespaces that have or had a schedule, when their annotations change.
var scheduleChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return scheduled(e.Object) },
	DeleteFunc: func(e event.DeleteEvent) bool { return scheduled(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return (scheduled(e.ObjectOld) || scheduled(e.ObjectNew)) &&
			!maps.Equal(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations())
	},
}

func scheduled(o client.Object) bool {
	_, ok := o.GetAnnotations()[annotations.Schedule]
	return ok
}

type reconciler struct {
	client client.Client // the manager's: reads from its cache
	live   client.Reader // the API server, for what the cache does not hold
	events recorder.EventRecorder
	cfg    Config

	mu sync.Mutex
	// warnings are the Warning Events last emitted, by namespace and by the
	// deployment they concern ("" for the whole namespace), not to repeat
	// them.
	warnings map[string]map[string]string
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.client.Get(ctx, req.NamespacedName, ns); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetWarnings(req.Name, nil)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if ns.DeletionTimestamp != nil {
		r.forgetWarnings(ns.Name, nil) // its CronJobs go with it
		return reconcile.Result{}, nil
	}
	var list batchv1.CronJobList
	if err := r.client.List(ctx, &list, client.InNamespace(ns.Name)); err != nil {
		return reconcile.Result{}, err
	}
	current := map[string]*batchv1.CronJob{} // backups and drills
	var inPlace []batchv1.CronJob            // backups
	for i := range list.Items {
		// The cache holds only CronJobs with our label; of those, the
		// reconciler made the drills (by label) and the backups of its
		// names.
		switch cj := &list.Items[i]; {
		case isDrillCronJob(cj):
			current[cj.Name] = cj
		case isBackupCronJob(cj.Name):
			current[cj.Name] = cj
			inPlace = append(inPlace, *cj)
		}
	}

	if !scheduled(ns) {
		r.forgetWarnings(ns.Name, nil)
		return reconcile.Result{}, r.removeAll(ctx, ns, current, func(string) string { return "the namespace no longer has " + annotations.Schedule })
	}
	var sets appsv1.StatefulSetList
	// Read in place, not copied: planBackups changes nothing it is given.
	if err := r.client.List(ctx, &sets, client.InNamespace(ns.Name), client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, err
	}
	p := planBackups(ns.Name, ns.Annotations, sets.Items, inPlace, r.cfg)

	warned := map[string]string{}
	defer func() { r.forgetWarnings(ns.Name, warned) }()
	why := map[string]string{} // a CronJob to remove: why
	for _, pr := range p.problems {
		r.warn(ns, pr, warned)
		if pr.deployment == "" {
			return reconcile.Result{}, r.removeAll(ctx, ns, current, func(string) string { return pr.message })
		}
		why[cronJobName(pr.deployment)] = pr.message
		why[drillCronJobName(pr.deployment)] = pr.message
	}

	wanted := map[string]bool{}
	var names []string
	for _, s := range p.backups {
		wanted[s.CronJob] = true
		names = append(names, s.CronJob)
	}
	for _, s := range p.backups {
		inPlace, err := r.backUp(ctx, ns, s, current[s.CronJob], sets.Items, warned)
		if err != nil {
			return reconcile.Result{}, err
		}
		if s.VerifySchedule == "" {
			continue
		}
		drill := drillCronJobName(s.Deployment)
		switch {
		case wanted[drill]:
			// Deployments x and verify-x: the backup keeps the name.
			r.warn(ns, problemf(ReasonDrillNameTaken, nil, "the restore drill of Neo4j deployment %s would be CronJob %s, the backup CronJob of deployment %s; rename one of the deployments (label its StatefulSets %s=<name>) to drill it", s.Deployment, drill, strings.TrimPrefix(drill, Name+"-"), annotations.DeploymentLabel).of(s.Deployment+" (drill)"), warned)
			continue
		case !inPlace:
			why[drill] = "its backup CronJob " + s.CronJob + " is not in place"
			continue
		}
		wanted[drill] = true
		if _, err := r.ensure(ctx, ns, s, drillCronJob(s), current[drill], nil, warned); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, r.removeAll(ctx, ns, current, func(name string) string {
		switch {
		case wanted[name]:
			return ""
		case why[name] != "":
			return why[name]
		case isDrillCronJob(current[name]) && ns.Annotations[annotations.VerifySchedule] == "":
			return "the namespace no longer has " + annotations.VerifySchedule
		case isDrillCronJob(current[name]):
			return "the Neo4j deployment it drills has no backup CronJob any more"
		case name == Name && len(names) > 0:
			return "backups are made per Neo4j deployment now, by CronJob " + strings.Join(names, ", ")
		}
		return "no Neo4j deployment of the namespace has its name any more (its StatefulSets are gone, or grouped otherwise)"
	})
}

// backUp makes the CronJob of one deployment what s says, if it is not
// already; current is the one in place. inPlace says whether it is there
// now, as s says.
func (r *reconciler) backUp(ctx context.Context, ns *metav1.PartialObjectMetadata, s Settings, current *batchv1.CronJob, sets []appsv1.StatefulSet, warned map[string]string) (inPlace bool, err error) {
	return r.ensure(ctx, ns, s, cronJob(s), current, sets, warned)
}

// ensure makes want, the backup or drill CronJob of the deployment s
// backs up, what it is not already; current is the one in place, sets the
// StatefulSets for the Event of a backup CronJob.
func (r *reconciler) ensure(ctx context.Context, ns *metav1.PartialObjectMetadata, s Settings, want, current *batchv1.CronJob, sets []appsv1.StatefulSet, warned map[string]string) (inPlace bool, err error) {
	drill := isDrillCronJob(want)
	what, key := "backup", s.Deployment
	if drill {
		what, key = "restore drill", s.Deployment+" (drill)"
	}
	if current != nil {
		same, err := upToDate(current, want)
		if err != nil || same {
			return same, err
		}
	} else if stop, err := r.checkForeign(ctx, ns, s, want.Name, key, warned); stop || err != nil {
		return false, err
	}
	if err := r.apply(ctx, want); err != nil {
		if apierrors.IsInvalid(err) {
			// Settings the API server refuses for a CronJob, say a time zone
			// its tzdata lacks: retrying will not help, a new annotation will.
			r.warn(ns, problemf(ReasonCronJobRefused, nil, "the API server refused the %s CronJob %s: %v; correct the %s annotations", what, want.Name, err, annotations.Prefix).of(key), warned)
			return false, nil
		}
		return false, fmt.Errorf("applying CronJob %s/%s: %w", ns.Name, want.Name, err)
	}
	reason, action, verb := ReasonCreated, "Create", "created"
	if current != nil {
		reason, action, verb = ReasonUpdated, "Update", "updated"
	}
	if drill {
		reason = map[bool]string{false: ReasonDrillCreated, true: ReasonDrillUpdated}[current != nil]
		r.event(ns, nil, corev1.EventTypeNormal, reason, action, "%s CronJob %s: restore drill of Neo4j deployment %s on %q %s: the newest complete backup in %s, restored into a scratch volume and checked for consistency",
			verb, want.Name, s.Deployment, s.VerifySchedule, s.TimeZone, s.To)
		logf.FromContext(ctx).Info(verb+" restore drill CronJob", "namespace", ns.Name, "cronJob", want.Name, "deployment", s.Deployment, "schedule", s.VerifySchedule, "from", s.To.String())
		return true, nil
	}
	var related runtime.Object
	if len(s.StatefulSets) > 0 {
		related = statefulSetIn(sets, s.StatefulSets[0])
	}
	r.event(ns, related, corev1.EventTypeNormal, reason, action, "%s CronJob %s: %s", verb, want.Name, describe(s))
	logf.FromContext(ctx).Info(verb+" backup CronJob", "namespace", ns.Name, "cronJob", want.Name, "deployment", s.Deployment,
		"statefulSets", s.StatefulSets, "backingUpFrom", s.Source, "schedule", s.Schedule, "to", s.To.String())
	return true, nil
}

// checkForeign looks, when the cache holds no CronJob of the deployment's
// name, for one that the label-selected cache cannot see: one the
// reconciler did not make (a hand-written backup CronJob, say) is left
// alone, with a Warning; one it made that the cache has not seen yet brings
// it back when the cache does.
func (r *reconciler) checkForeign(ctx context.Context, ns *metav1.PartialObjectMetadata, s Settings, name, key string, warned map[string]string) (stop bool, err error) {
	existing := &metav1.PartialObjectMetadata{}
	existing.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("CronJob"))
	err = r.live.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return true, err
	case existing.Labels[LabelManagedBy] != managedBy:
		r.warn(ns, problemf(ReasonCronJobNameTaken, nil, "namespace %s has a CronJob %s that neo4j-backup did not make (it lacks the label %s=%s); delete it or give it another name, and neo4j-backup makes its own for Neo4j deployment %s", ns.Name, name, LabelManagedBy, managedBy, s.Deployment).of(key), warned)
		return true, nil
	default:
		return true, nil
	}
}

// upToDate reports whether the fields the reconciler applied are still what
// it would apply now. The CronJob's managed fields say which fields those
// are; one that someone else changed since is no longer among them, so it is
// applied again.
func upToDate(current, want *batchv1.CronJob) (bool, error) {
	applied, err := batchv1ac.ExtractCronJob(current, fieldManager)
	if err != nil {
		return false, fmt.Errorf("reading the fields neo4j-backup applied to CronJob %s/%s: %w", current.Namespace, current.Name, err)
	}
	data, err := json.Marshal(applied)
	if err != nil {
		return false, err
	}
	var got batchv1.CronJob
	if err := json.Unmarshal(data, &got); err != nil {
		return false, err
	}
	return equality.Semantic.DeepEqual(got.Labels, want.Labels) && equality.Semantic.DeepEqual(got.Spec, want.Spec), nil
}

// apply writes want by server-side apply, taking back fields someone else
// changed: the namespace's annotations are the truth.
func (r *reconciler) apply(ctx context.Context, want *batchv1.CronJob) error {
	data, err := json.Marshal(want)
	if err != nil {
		return err
	}
	ac := &batchv1ac.CronJobApplyConfiguration{}
	if err := json.Unmarshal(data, ac); err != nil {
		return err
	}
	return r.client.Apply(ctx, ac, client.FieldOwner(fieldManager), client.ForceOwnership)
}

// removeAll deletes each of the namespace's backup CronJobs in current for
// which why gives a reason, and its Jobs and their pods with it (as
// kubectl delete does): no backup runs once its schedule or its deployment
// is gone.
func (r *reconciler) removeAll(ctx context.Context, ns *metav1.PartialObjectMetadata, current map[string]*batchv1.CronJob, why func(name string) string) error {
	for _, name := range sortedKeys(current) {
		reason := why(name)
		if reason == "" {
			continue
		}
		cj := current[name]
		err := r.client.Delete(ctx, cj, client.Preconditions{UID: &cj.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting CronJob %s/%s: %w", ns.Name, name, err)
		}
		r.event(ns, nil, corev1.EventTypeNormal, ReasonRemoved, "Delete", "removed CronJob %s: %s", name, reason)
		logf.FromContext(ctx).Info("removed backup CronJob", "namespace", ns.Name, "cronJob", name, "why", reason)
	}
	return nil
}

// warn emits a Warning Event on the namespace, unless it is the one emitted
// last for the same deployment, and notes it in warned. The StatefulSet the
// problem is about is the Event's related object.
func (r *reconciler) warn(ns *metav1.PartialObjectMetadata, p *problem, warned map[string]string) {
	warned[p.deployment] = p.message
	r.mu.Lock()
	repeated := r.warnings[ns.Name][p.deployment] == p.message
	r.mu.Unlock()
	if repeated {
		return
	}
	var related runtime.Object
	if p.statefulSet != nil {
		related = p.statefulSet
	}
	r.event(ns, related, corev1.EventTypeWarning, p.reason, "ScheduleBackup", "no backup CronJob: %s", p.message)
}

// forgetWarnings keeps of the Warnings emitted on a namespace only those
// still true, warned: a problem that went away is news again when it comes
// back.
func (r *reconciler) forgetWarnings(namespace string, warned map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(warned) == 0 {
		delete(r.warnings, namespace)
		return
	}
	r.warnings[namespace] = warned
}

// noteMax is under the 1 kB an Event's note may hold.
const noteMax = 1000

// event records an Event on the namespace. Its reference carries the
// namespace's resourceVersion, and related that of the StatefulSet: the
// recorder folds an Event into an earlier one of the same reason and objects,
// keeping the earlier message, so a changed namespace or StatefulSet must
// make a new Event.
func (r *reconciler) event(ns *metav1.PartialObjectMetadata, related runtime.Object, eventType, reason, action, format string, args ...any) {
	recordEvent(r.events, ns, related, eventType, reason, action, format, args...)
}

// recordEvent records an Event on the namespace, as the reconciler's event
// says, with events.
func recordEvent(events recorder.EventRecorder, ns *metav1.PartialObjectMetadata, related runtime.Object, eventType, reason, action, format string, args ...any) {
	note := fmt.Sprintf(format, args...)
	if len(note) > noteMax {
		cut := noteMax
		for !utf8.RuneStart(note[cut]) {
			cut--
		}
		note = note[:cut] + "…"
	}
	regarding := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion}}
	events.Eventf(regarding, related, eventType, reason, action, "%s", note)
}

// describe says in a line what a CronJob does, for its Events: no
// credentials, only where they come from.
func describe(s Settings) string {
	suspended := ""
	if s.Suspend {
		suspended = " (suspended)"
	}
	members := "Neo4j outside the namespace"
	if len(s.StatefulSets) > 0 {
		members = "StatefulSet"
		if len(s.StatefulSets) > 1 {
			members += "s"
		}
		members += " " + strings.Join(s.StatefulSets, ", ")
	}
	chain := "full backups only, as Neo4j 4.x takes no differential ones"
	if s.Neo4jVersion.Chains() {
		chain = "a full backup at least every " + s.FullEvery + ", differential ones between"
	}
	return fmt.Sprintf("backs up Neo4j deployment %s (%s; Neo4j %s, databases %s) from %s on %q %s%s to %s; %s",
		s.Deployment, members, s.Neo4jVersion, strings.Join(s.Databases, ","), s.Source, s.Schedule, s.TimeZone, suspended, s.To, chain)
}

// statefulSetIn is the StatefulSet named name among sets, as an Event's related
// object; nil when it is not there.
func statefulSetIn(sets []appsv1.StatefulSet, name string) runtime.Object {
	for i := range sets {
		if sets[i].Name == name {
			return &sets[i]
		}
	}
	return nil
}
