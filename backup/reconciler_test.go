package backup

// Integration tests of the reconciler on a real control plane
// (internal/testcluster): etcd, kube-apiserver with PodSecurity admission and
// the shipped webhooks, and kube-controller-manager's cronjob and job
// controllers. The reconciler runs where it runs in a cluster: in
// `neo4j-backup serve`, a process of its own, as serve's ServiceAccount with
// the permissions manifests/ gives it and no more.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{Serve: []string{"--image", testImage, "--default-destination", clusterDestination}})
}

const (
	clusterDestination = "s3://cluster-backups/neo4j"
	timeout            = 30 * time.Second
)

// startCluster returns a client of the package's cluster, with serve, and
// so the reconciler, running.
func startCluster(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	c := testcluster.Shared(t)
	c.Serve(t)
	return c.Kube
}

// newNamespace creates a namespace with annotations and labels.
func newNamespace(t *testing.T, kube *kubernetes.Clientset, name string, annotations, labels map[string]string) {
	t.Helper()
	_, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: annotations,
		Labels:      labels,
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// neo4jStatefulSet is a Neo4j StatefulSet of no replicas: the reconciler
// reads its spec, no pod needs to run.
func neo4jStatefulSet(name, image string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](0),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "neo4j", Image: image}}},
			},
		},
	}
}

func createStatefulSet(t *testing.T, kube *kubernetes.Clientset, namespace string, sts *appsv1.StatefulSet) {
	t.Helper()
	if _, err := kube.AppsV1().StatefulSets(namespace).Create(context.Background(), sts, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating StatefulSet %s/%s: %v", namespace, sts.Name, err)
	}
}

// annotate merges annotations into an object's; an empty value removes the
// key, as `kubectl annotate key-` does.
func annotate(t *testing.T, kube *kubernetes.Clientset, kind, namespace, name string, annotations map[string]string) {
	t.Helper()
	values := map[string]any{}
	for k, v := range annotations {
		if v == "" {
			values[k] = nil
		} else {
			values[k] = v
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": values}})
	ctx := context.Background()
	var err error
	switch kind {
	case "Namespace":
		_, err = kube.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	case "StatefulSet":
		_, err = kube.AppsV1().StatefulSets(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		t.Fatalf("annotating %s %s: %v", kind, name, err)
	}
}

// eventually polls cond until it holds, for at most the timeout.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, cond)
	if err != nil {
		c := testcluster.Shared(t)
		t.Fatalf("waiting %v for %s: %v\nserve's last lines:\n%s\nkube-controller-manager's last lines:\n%s",
			timeout, what, err, c.Serve(t).LogTail(15), c.ControllerManagerLog(15))
	}
}

// cronJobIn is the namespace's backup CronJob, nil when there is none.
func cronJobIn(ctx context.Context, kube *kubernetes.Clientset, namespace string) (*batchv1.CronJob, error) {
	cj, err := kube.BatchV1().CronJobs(namespace).Get(ctx, Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cj, err
}

// waitCronJob waits until the namespace's CronJob satisfies ok.
func waitCronJob(t *testing.T, kube *kubernetes.Clientset, namespace, what string, ok func(*batchv1.CronJob) bool) *batchv1.CronJob {
	t.Helper()
	var cj *batchv1.CronJob
	eventually(t, what, func(ctx context.Context) (bool, error) {
		var err error
		cj, err = cronJobIn(ctx, kube, namespace)
		return err == nil && cj != nil && ok(cj), nil
	})
	return cj
}

// waitEvent waits for an Event on Namespace namespace of the reason whose
// message contains text, and returns its message.
func waitEvent(t *testing.T, kube *kubernetes.Clientset, namespace, eventType, reason, text string) string {
	t.Helper()
	var message string
	eventually(t, fmt.Sprintf("a %s Event %s on namespace %s saying %q", eventType, reason, namespace, text), func(ctx context.Context) (bool, error) {
		events, err := kube.CoreV1().Events("").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Namespace,involvedObject.name=" + namespace + ",reason=" + reason,
		})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Type == eventType && strings.Contains(e.Message, text) {
				message = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	return message
}

func podSpec(cj *batchv1.CronJob) corev1.PodSpec { return cj.Spec.JobTemplate.Spec.Template.Spec }

func uploadArgsOf(cj *batchv1.CronJob) string {
	return strings.Join(podSpec(cj).Containers[0].Args, " ")
}

// metricValue reads a gauge or counter that serve exports; labels narrow it
// to the series that carry them.
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return testcluster.Shared(t).Serve(t).Metric(t, name, labels)
}

func TestReconcilerFollowsNamespaceAnnotations(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	managedBefore := metricValue(t, "neo4j_backup_cronjobs_managed", nil)

	newNamespace(t, kube, "shop", map[string]string{
		annotations.Schedule:          "0 3 * * *",
		annotations.Destination:       "s3://prod-backups/neo4j",
		annotations.CredentialsSecret: "s3-creds",
		annotations.Keep:              "7d",
	}, nil)
	// Annotated before Neo4j is there: a Warning, then a CronJob once the
	// StatefulSet comes.
	waitEvent(t, kube, "shop", corev1.EventTypeWarning, ReasonNeo4jNotFound, "there is no Neo4j StatefulSet in namespace shop")
	createStatefulSet(t, kube, "shop", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))

	cj := waitCronJob(t, kube, "shop", "the CronJob", func(*batchv1.CronJob) bool { return true })
	if cj.Labels[LabelManagedBy] != "neo4j-backup" || cj.Labels[LabelName] != "neo4j-backup" {
		t.Errorf("CronJob labels = %v, want the managed-by and name labels", cj.Labels)
	}
	if cj.Spec.Schedule != "0 3 * * *" || ptr.Deref(cj.Spec.TimeZone, "") != "UTC" || ptr.Deref(cj.Spec.Suspend, true) || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule %q timeZone %v suspend %v concurrency %s, want 0 3 * * *, UTC, false, Forbid", cj.Spec.Schedule, cj.Spec.TimeZone, cj.Spec.Suspend, cj.Spec.ConcurrencyPolicy)
	}
	wantScript := "date -u +%Y-%m-%dT%H:%M:%SZ > /backup/started-at && mkdir -p /backup/databases && neo4j-admin database backup --from=graph.shop.svc:6362 --to-path=/backup/databases neo4j system"
	if admin := podSpec(cj).InitContainers[0]; admin.Name != AdminContainer || admin.Image != "neo4j:5.26.0-enterprise" || admin.Command[2] != wantScript {
		t.Errorf("init container %s runs %q in %s, want %s running %q in neo4j:5.26.0-enterprise", admin.Name, admin.Command, admin.Image, AdminContainer, wantScript)
	}
	wantArgs := "upload --from /backup/databases --id-file /backup/started-at --to s3://prod-backups/neo4j/shop/graph --databases neo4j,system --neo4j-version 5.26.0 --keep 7d"
	if got := uploadArgsOf(cj); got != wantArgs {
		t.Errorf("upload args:\n got %s\nwant %s", got, wantArgs)
	}
	for _, e := range podSpec(cj).Containers[0].Env {
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "s3-creds" {
			t.Errorf("upload env %s = %+v, want only a secretKeyRef to s3-creds", e.Name, e)
		}
	}
	if m := cj.ManagedFields; len(m) != 1 || m[0].Manager != fieldManager || m[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields %+v, want one server-side apply by %s", m, fieldManager)
	}
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonCreated, "created CronJob neo4j-backup: backs up StatefulSet graph (Neo4j 5.26.0, databases neo4j,system) on \"0 3 * * *\" UTC to s3://prod-backups/neo4j/shop/graph")
	if got := metricValue(t, "neo4j_backup_cronjobs_managed", nil); got != managedBefore+1 {
		t.Errorf("neo4j_backup_cronjobs_managed = %v with the CronJob made, want %v", got, managedBefore+1)
	}

	// A change of nothing the CronJob is made from: reconciled, not written.
	reconciles := metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"})
	annotate(t, kube, "Namespace", "", "shop", map[string]string{"example.com/owner": "team-shop"})
	eventually(t, "a reconcile of the touched namespace", func(context.Context) (bool, error) {
		return metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"}) > reconciles, nil
	})
	if now, err := cronJobIn(ctx, kube, "shop"); err != nil || now.ResourceVersion != cj.ResourceVersion {
		t.Errorf("the CronJob was written (resourceVersion %s → %s, error %v) though nothing it is made from changed", cj.ResourceVersion, now.ResourceVersion, err)
	}

	// Changed annotations, and a restore naming a backup ID: updated.
	annotate(t, kube, "Namespace", "", "shop", map[string]string{annotations.Keep: "24", annotations.Suspend: "true", annotations.Timezone: "Europe/Berlin"})
	annotate(t, kube, "StatefulSet", "shop", "graph", map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"})
	wantArgs = "upload --from /backup/databases --id-file /backup/started-at --to s3://prod-backups/neo4j/shop/graph --databases neo4j,system --neo4j-version 5.26.0 --keep 24 --in-use 2021-11-11T10:00:00Z"
	cj = waitCronJob(t, kube, "shop", "the CronJob updated to the new annotations", func(cj *batchv1.CronJob) bool {
		return uploadArgsOf(cj) == wantArgs && ptr.Deref(cj.Spec.Suspend, false) && ptr.Deref(cj.Spec.TimeZone, "") == "Europe/Berlin"
	})
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonUpdated, "updated CronJob neo4j-backup")

	// Someone edits the CronJob: the annotations win.
	cj.Spec.Schedule = "5 5 * * *"
	if _, err := kube.BatchV1().CronJobs("shop").Update(ctx, cj, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	waitCronJob(t, kube, "shop", "the edited schedule put back", func(cj *batchv1.CronJob) bool { return cj.Spec.Schedule == "0 3 * * *" })

	// Removing the schedule removes the CronJob.
	annotate(t, kube, "Namespace", "", "shop", map[string]string{annotations.Schedule: ""})
	eventually(t, "the CronJob removed", func(ctx context.Context) (bool, error) {
		cj, err := cronJobIn(ctx, kube, "shop")
		return err == nil && cj == nil, nil
	})
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonRemoved, "removed CronJob neo4j-backup: the namespace no longer has neo4j-backup.io/schedule")
	eventually(t, "neo4j_backup_cronjobs_managed back down", func(context.Context) (bool, error) {
		return metricValue(t, "neo4j_backup_cronjobs_managed", nil) == managedBefore, nil
	})
}

// The restricted standard is enforced on pods, not on CronJobs: the pod the
// CronJob's Jobs make must be admitted, made by hand and by the Job
// controller.
func TestReconcilerBackupPodIsAdmittedUnderRestricted(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "strict", map[string]string{
		annotations.Schedule:          "@daily",
		annotations.CredentialsSecret: "s3-creds",
		annotations.VolumeSize:        "1Gi",
	}, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	createStatefulSet(t, kube, "strict", neo4jStatefulSet("graph", "neo4j:4.4.26-enterprise"))
	cj := waitCronJob(t, kube, "strict", "the CronJob", func(*batchv1.CronJob) bool { return true })

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-by-hand", Labels: cj.Spec.JobTemplate.Spec.Template.Labels},
		Spec:       podSpec(cj),
	}
	if _, err := kube.CoreV1().Pods("strict").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the backup pod in a namespace enforcing the restricted standard: %v", err)
	}

	// What `kubectl create job --from=cronjob/neo4j-backup` does.
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-now", Labels: cj.Spec.JobTemplate.Labels},
		Spec:       cj.Spec.JobTemplate.Spec,
	}
	if _, err := kube.BatchV1().Jobs("strict").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Job controller's backup pod", func(ctx context.Context) (bool, error) {
		pods, err := kube.CoreV1().Pods("strict").List(ctx, metav1.ListOptions{LabelSelector: "job-name=backup-now"})
		return err == nil && len(pods.Items) == 1, nil
	})
}

func TestReconcilerWarnsOnTwoNeo4jStatefulSets(t *testing.T) {
	kube := startCluster(t)
	newNamespace(t, kube, "twins", nil, nil)
	createStatefulSet(t, kube, "twins", neo4jStatefulSet("graph-a", "neo4j:5.26.0-enterprise"))
	createStatefulSet(t, kube, "twins", neo4jStatefulSet("graph-b", "neo4j:5.26.0-enterprise"))
	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.Schedule: "@daily"})

	msg := waitEvent(t, kube, "twins", corev1.EventTypeWarning, ReasonNeo4jAmbiguous, "there are 2 Neo4j StatefulSets in namespace twins (graph-a, graph-b)")
	if !strings.Contains(msg, annotations.From) {
		t.Errorf("Warning %q does not say to set %s", msg, annotations.From)
	}
	// The Warning comes from the reconcile that would have made it.
	if cj, err := cronJobIn(context.Background(), kube, "twins"); err != nil || cj != nil {
		t.Errorf("namespace twins has CronJob %v (error %v), want none", cj, err)
	}

	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.From: "graph-b-0.graph-b.twins.svc:6362"})
	waitCronJob(t, kube, "twins", "the CronJob of graph-b", func(cj *batchv1.CronJob) bool {
		return strings.Contains(uploadArgsOf(cj), "--to "+clusterDestination+"/twins/graph-b ")
	})
}

func TestReconcilerWarnsOnCommunityImage(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "community", map[string]string{annotations.Schedule: "@daily"}, nil)
	createStatefulSet(t, kube, "community", neo4jStatefulSet("graph", "neo4j:5.26.0"))
	waitEvent(t, kube, "community", corev1.EventTypeWarning, ReasonImageUnsupported, "StatefulSet graph runs neo4j:5.26.0, which is Neo4j Community")
	if cj, err := cronJobIn(ctx, kube, "community"); err != nil || cj != nil {
		t.Errorf("namespace community has CronJob %v (error %v), want none", cj, err)
	}

	// Enterprise: a CronJob. Back to Community: removed again.
	setImage := func(image string) {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"neo4j","image":%q}]}}}}`, image)
		if _, err := kube.AppsV1().StatefulSets("community").Patch(ctx, "graph", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setImage("neo4j:5.26.0-enterprise")
	waitCronJob(t, kube, "community", "the CronJob for Enterprise", func(*batchv1.CronJob) bool { return true })
	setImage("neo4j:5.26.1")
	eventually(t, "the CronJob removed for Community", func(ctx context.Context) (bool, error) {
		cj, err := cronJobIn(ctx, kube, "community")
		return err == nil && cj == nil, nil
	})
	waitEvent(t, kube, "community", corev1.EventTypeWarning, ReasonImageUnsupported, "runs neo4j:5.26.1, which is Neo4j Community")
}

func TestReconcilerLeavesForeignCronJobAlone(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "handmade", nil, nil)
	createStatefulSet(t, kube, "handmade", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))
	// The hand-written CronJob neo4j-backup replaces, under the same name.
	old := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: Name},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 1 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "s3cmd", Image: "example/s3cmd:1"}},
			}}}},
		},
	}
	old, err := kube.BatchV1().CronJobs("handmade").Create(ctx, old, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	annotate(t, kube, "Namespace", "", "handmade", map[string]string{annotations.Schedule: "@daily"})
	waitEvent(t, kube, "handmade", corev1.EventTypeWarning, ReasonCronJobNameTaken, "namespace handmade has a CronJob neo4j-backup that neo4j-backup did not make")
	if now, err := cronJobIn(ctx, kube, "handmade"); err != nil || now.ResourceVersion != old.ResourceVersion {
		t.Errorf("the hand-made CronJob was changed or removed (error %v)", err)
	}
}

// TestReconcilerSeesAppliedCronJobsUpToDate applies the CronJob of every
// fixture and checks that the reconciler reads it back as up to date, so it
// writes nothing (and says nothing) until something changes.
func TestReconcilerSeesAppliedCronJobsUpToDate(t *testing.T) {
	kube := startCluster(t)
	c, err := client.New(testcluster.Shared(t).Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &reconciler{client: c}
	newNamespace(t, kube, "fixtures", nil, nil)
	files, err := filepath.Glob("testdata/namespaces/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
			continue
		}
		fc := readNamespaceCase(t, file)
		s, err := readSettings(fc.Namespace.Name, fc.Namespace.Annotations, fc.StatefulSets, Config{Image: testImage, DefaultDestination: clusterDestination})
		if err != nil {
			continue
		}
		applied++
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			s.Namespace = "fixtures"
			want := cronJob(s)
			// Not neo4j-backup: the running reconciler would remove that from
			// a namespace without a schedule.
			want.Name = strings.ReplaceAll(name, ".", "-")
			if err := r.apply(context.Background(), want); err != nil {
				t.Fatalf("applying: %v", err)
			}
			got, err := kube.BatchV1().CronJobs("fixtures").Get(context.Background(), want.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if same, err := upToDate(got, want); err != nil || !same {
				t.Errorf("upToDate = %v, %v right after applying; want true", same, err)
			}
		})
	}
	if applied < 8 {
		t.Errorf("applied %d fixtures' CronJobs, want at least 8", applied)
	}
}
