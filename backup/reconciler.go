package backup

// The reconciler: read a namespace, its StatefulSets and its CronJob from
// the manager's cache, decide (settings.go), and write only what changed, by
// server-side apply as field manager neo4j-backup.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
)

// fieldManager owns the fields of the CronJob the reconciler applies.
const fieldManager = "neo4j-backup"

// Reasons of the Events on a Namespace. Normal: what happened to its
// CronJob.
const (
	ReasonCreated = "BackupCronJobCreated"
	ReasonUpdated = "BackupCronJobUpdated"
	ReasonRemoved = "BackupCronJobRemoved"
)

var cronJobsManagedDesc = prometheus.NewDesc("neo4j_backup_cronjobs_managed",
	"Backup CronJobs in place, one per namespace annotated with "+annotations.Schedule+"; counted in the cache at scrape time.", nil, nil)

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
		if cj.Name == Name && cj.DeletionTimestamp == nil {
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
// manager may read StatefulSets from its cache.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&batchv1.CronJob{}:    {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})},
		&appsv1.StatefulSet{}: {Transform: trimStatefulSet},
	}
}

// trimStatefulSet keeps of a StatefulSet what readSettings and the watch's
// predicates read: its name, annotations, generation and deletion, its
// governing Service, and of its pod template the annotations, service
// account, pull secrets and the containers' names and images.
func trimStatefulSet(in any) (any, error) {
	sts, ok := in.(*appsv1.StatefulSet)
	if !ok {
		return in, nil
	}
	pod := sts.Spec.Template.Spec
	containers := make([]corev1.Container, len(pod.Containers))
	for i, c := range pod.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
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
			Annotations:       sts.Annotations,
		},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: sts.Spec.ServiceName,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: sts.Spec.Template.Annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName: pod.ServiceAccountName,
					ImagePullSecrets:   pod.ImagePullSecrets,
					Containers:         containers,
				},
			},
		},
	}, nil
}

// Setup registers the backup reconciler with mgr, whose cache was made with
// CacheByObject. Like every controller of a manager it runs only on the
// replica that holds the leader lease when leader election is on.
func Setup(mgr ctrl.Manager, cfg Config) error {
	r := &reconciler{
		client:   mgr.GetClient(),
		live:     mgr.GetAPIReader(),
		events:   mgr.GetEventRecorder("neo4j-backup"),
		cfg:      cfg,
		warnings: map[string]string{},
	}
	if err := registerMetrics(mgr.GetCache()); err != nil {
		return err
	}
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("backup").
		For(&corev1.Namespace{}, builder.OnlyMetadata, builder.WithPredicates(scheduleChanged)).
		// A StatefulSet's status changes often and says nothing the CronJob
		// is made from; its spec (generation) and annotations do.
		Watches(&appsv1.StatefulSet{}, toNamespace, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
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
	// warnings are the Warning Events last emitted, by namespace, not to
	// repeat them.
	warnings map[string]string
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.client.Get(ctx, req.NamespacedName, ns); err != nil {
		if apierrors.IsNotFound(err) {
			r.clearWarning(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if ns.DeletionTimestamp != nil {
		r.clearWarning(ns.Name) // its CronJob goes with it
		return reconcile.Result{}, nil
	}
	current := &batchv1.CronJob{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: Name}, current); apierrors.IsNotFound(err) {
		current = nil
	} else if err != nil {
		return reconcile.Result{}, err
	}

	if !scheduled(ns) {
		r.clearWarning(ns.Name)
		return reconcile.Result{}, r.remove(ctx, ns, current, "the namespace no longer has "+annotations.Schedule)
	}
	var sets appsv1.StatefulSetList
	// Read in place, not copied: readSettings changes nothing it is given.
	if err := r.client.List(ctx, &sets, client.InNamespace(ns.Name), client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, err
	}
	s, err := readSettings(ns.Name, ns.Annotations, sets.Items, r.cfg)
	if err != nil {
		p, ok := err.(*problem)
		if !ok {
			return reconcile.Result{}, err
		}
		r.warn(ns, p)
		return reconcile.Result{}, r.remove(ctx, ns, current, p.message)
	}
	want := cronJob(s)

	if current != nil {
		same, err := upToDate(current, want)
		if err != nil {
			return reconcile.Result{}, err
		}
		if same {
			r.clearWarning(ns.Name)
			return reconcile.Result{}, nil
		}
	} else if stop, err := r.checkForeign(ctx, ns); stop || err != nil {
		return reconcile.Result{}, err
	}

	if err := r.apply(ctx, want); err != nil {
		if apierrors.IsInvalid(err) {
			// Settings the API server refuses for a CronJob, say a time zone
			// its tzdata lacks: retrying will not help, a new annotation will.
			r.warn(ns, problemf(ReasonCronJobRefused, nil, "the API server refused the backup CronJob: %v; correct the %s annotations", err, annotations.Prefix))
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("applying CronJob %s/%s: %w", ns.Name, Name, err)
	}
	r.clearWarning(ns.Name)
	reason, action, verb := ReasonCreated, "Create", "created"
	if current != nil {
		reason, action, verb = ReasonUpdated, "Update", "updated"
	}
	r.event(ns, statefulSetIn(sets.Items, s.StatefulSet), corev1.EventTypeNormal, reason, action, "%s CronJob %s: %s", verb, Name, describe(s))
	logf.FromContext(ctx).Info(verb+" backup CronJob", "namespace", ns.Name, "statefulSet", s.StatefulSet, "schedule", s.Schedule, "to", s.To.String())
	return reconcile.Result{}, nil
}

// checkForeign looks, when the cache holds no CronJob of the namespace, for
// one of that name that the label-selected cache cannot see: one the
// reconciler did not make (a hand-written backup CronJob, say) is left alone,
// with a Warning; one it made that the cache has not seen yet brings it back
// when the cache does.
func (r *reconciler) checkForeign(ctx context.Context, ns *metav1.PartialObjectMetadata) (stop bool, err error) {
	existing := &metav1.PartialObjectMetadata{}
	existing.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("CronJob"))
	err = r.live.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: Name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return true, err
	case existing.Labels[LabelManagedBy] != managedBy:
		r.warn(ns, problemf(ReasonCronJobNameTaken, nil, "namespace %s has a CronJob %s that neo4j-backup did not make (it lacks the label %s=%s); delete it or give it another name, and neo4j-backup makes its own", ns.Name, Name, LabelManagedBy, managedBy))
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

// remove deletes the namespace's CronJob, if there is one, and its Jobs and
// their pods with it (as kubectl delete does): no backup runs once the
// schedule is gone.
func (r *reconciler) remove(ctx context.Context, ns *metav1.PartialObjectMetadata, current *batchv1.CronJob, why string) error {
	if current == nil {
		return nil
	}
	err := r.client.Delete(ctx, current, client.Preconditions{UID: &current.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting CronJob %s/%s: %w", ns.Name, Name, err)
	}
	r.event(ns, nil, corev1.EventTypeNormal, ReasonRemoved, "Delete", "removed CronJob %s: %s", Name, why)
	logf.FromContext(ctx).Info("removed backup CronJob", "namespace", ns.Name, "why", why)
	return nil
}

// warn emits a Warning Event on the namespace, unless it is the one emitted
// last. The StatefulSet the problem is about is the Event's related object.
func (r *reconciler) warn(ns *metav1.PartialObjectMetadata, p *problem) {
	r.mu.Lock()
	repeated := r.warnings[ns.Name] == p.message
	r.warnings[ns.Name] = p.message
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

// noteMax is under the 1 kB an Event's note may hold.
const noteMax = 1000

// event records an Event on the namespace. Its reference carries the
// namespace's resourceVersion, and related that of the StatefulSet: the
// recorder folds an Event into an earlier one of the same reason and objects,
// keeping the earlier message, so a changed namespace or StatefulSet must
// make a new Event.
func (r *reconciler) event(ns *metav1.PartialObjectMetadata, related runtime.Object, eventType, reason, action, format string, args ...any) {
	note := fmt.Sprintf(format, args...)
	if len(note) > noteMax {
		cut := noteMax
		for !utf8.RuneStart(note[cut]) {
			cut--
		}
		note = note[:cut] + "…"
	}
	regarding := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion}}
	r.events.Eventf(regarding, related, eventType, reason, action, "%s", note)
}

// clearWarning forgets the Warning last emitted on a namespace: the next
// problem there is news again.
func (r *reconciler) clearWarning(namespace string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.warnings, namespace)
}

// describe says in a line what a CronJob does, for its Events: no
// credentials, only where they come from.
func describe(s Settings) string {
	suspended := ""
	if s.Suspend {
		suspended = " (suspended)"
	}
	return fmt.Sprintf("backs up StatefulSet %s (Neo4j %s, databases %s) on %q %s%s to %s", s.StatefulSet, s.Neo4jVersion, strings.Join(s.Databases, ","), s.Schedule, s.TimeZone, suspended, s.To)
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
