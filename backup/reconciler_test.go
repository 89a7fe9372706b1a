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
	"os"
	"path/filepath"
	"slices"
	"sort"
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
	"sigs.k8s.io/yaml"

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

// cronJobIn is the CronJob name of the namespace, nil when there is none.
func cronJobIn(ctx context.Context, kube *kubernetes.Clientset, namespace, name string) (*batchv1.CronJob, error) {
	cj, err := kube.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cj, err
}

// waitCronJob waits until the namespace's CronJob name satisfies ok.
func waitCronJob(t *testing.T, kube *kubernetes.Clientset, namespace, name, what string, ok func(*batchv1.CronJob) bool) *batchv1.CronJob {
	t.Helper()
	var cj *batchv1.CronJob
	eventually(t, what, func(ctx context.Context) (bool, error) {
		var err error
		cj, err = cronJobIn(ctx, kube, namespace, name)
		return err == nil && cj != nil && ok(cj), nil
	})
	return cj
}

// waitGone waits until the namespace has no CronJob name.
func waitGone(t *testing.T, kube *kubernetes.Clientset, namespace, name, what string) {
	t.Helper()
	eventually(t, what, func(ctx context.Context) (bool, error) {
		cj, err := cronJobIn(ctx, kube, namespace, name)
		return err == nil && cj == nil, nil
	})
}

// backupCronJobs are the names of the CronJobs with our label in the
// namespace, sorted.
func backupCronJobs(ctx context.Context, kube *kubernetes.Clientset, namespace string) ([]string, error) {
	list, err := kube.BatchV1().CronJobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, cj := range list.Items {
		names = append(names, cj.Name)
	}
	sort.Strings(names)
	return names, nil
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

// adminOf is the CronJob's neo4j-admin-backup init container; on 5.x and
// calendar versions backup-plan runs before it.
func adminOf(cj *batchv1.CronJob) corev1.Container {
	for _, c := range podSpec(cj).InitContainers {
		if c.Name == AdminContainer {
			return c
		}
	}
	return corev1.Container{Command: []string{"", "", ""}}
}

func scriptOf(cj *batchv1.CronJob) string { return adminOf(cj).Command[2] }

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
		annotations.Databases:         "Neo4j,SYSTEM",
	}, nil)
	// Annotated before Neo4j is there: a Warning, then a CronJob once the
	// StatefulSet comes.
	waitEvent(t, kube, "shop", corev1.EventTypeWarning, ReasonNeo4jNotFound, "there is no Neo4j StatefulSet in namespace shop")
	createStatefulSet(t, kube, "shop", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))

	const name = "neo4j-backup-graph"
	cj := waitCronJob(t, kube, "shop", name, "the CronJob", func(*batchv1.CronJob) bool { return true })
	if cj.Labels[LabelManagedBy] != "neo4j-backup" || cj.Labels[LabelName] != "neo4j-backup" {
		t.Errorf("CronJob labels = %v, want the managed-by and name labels", cj.Labels)
	}
	if cj.Spec.Schedule != "0 3 * * *" || ptr.Deref(cj.Spec.TimeZone, "") != "UTC" || ptr.Deref(cj.Spec.Suspend, true) || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule %q timeZone %v suspend %v concurrency %s, want 0 3 * * *, UTC, false, Forbid", cj.Spec.Schedule, cj.Spec.TimeZone, cj.Spec.Suspend, cj.Spec.ConcurrencyPolicy)
	}
	wantScript := `date -u +%Y-%m-%dT%H:%M:%SZ > /backup/started-at || exit 1
mkdir -p /backup/databases || exit 1
: > /backup/neo4j-admin.exit || exit 1
full() {
neo4j-admin database backup --from=graph.shop.svc:6362 --to-path=/backup/databases --type=FULL --pagecache=512m neo4j system; echo "$? neo4j,system" >> /backup/neo4j-admin.exit || exit 1
}
if grep -q '"type":"differential"' /backup/plan; then
failed=0
neo4j-admin database backup --from=graph.shop.svc:6362 --to-path=/backup/databases --type=DIFF --pagecache=512m neo4j system; code=$?; echo "$code neo4j,system" >> /backup/neo4j-admin.exit || exit 1; [ "$code" = 0 ] || failed=$code
if [ "$failed" != 0 ]; then
printf '{"type":"full","reason":"the differential backup failed (neo4j-admin exited %s), so the parent'\''s artifacts were removed and a full backup taken","problem":true}\n' "$failed" > /backup/plan || exit 1
rm -rf /backup/databases && mkdir -p /backup/databases && : > /backup/neo4j-admin.exit || exit 1
full
fi
else
full
fi
neo4j-admin database backup --inspect-path=/backup/databases > /backup/inspect; echo "$?" > /backup/inspect.exit || exit 1
exit 0`
	if admin := adminOf(cj); admin.Name != AdminContainer || admin.Image != "neo4j:5.26.0-enterprise" || scriptOf(cj) != wantScript {
		t.Errorf("init container %s runs %q in %s, want %s running %q in neo4j:5.26.0-enterprise", admin.Name, admin.Command, admin.Image, AdminContainer, wantScript)
	}
	if admin := adminOf(cj); len(admin.Env) != 1 || admin.Env[0].Name != "HEAP_SIZE" || admin.Env[0].Value != "1024m" || admin.Resources.Limits.Memory().String() != "2Gi" {
		t.Errorf("init container env %v, memory limit %v; want HEAP_SIZE=1024m and 2Gi", admin.Env, admin.Resources.Limits.Memory())
	}
	wantArgs := "upload --from /backup/databases --id-file /backup/started-at --to s3://prod-backups/neo4j/shop/graph --databases neo4j,system --neo4j-version 5.26.0 --plan /backup/plan --inspect /backup/inspect --inspect-exit /backup/inspect.exit --keep 7d --neo4j-admin-exit /backup/neo4j-admin.exit --termination-log /dev/termination-log"
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
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonCreated, "created CronJob neo4j-backup-graph: backs up Neo4j deployment graph (StatefulSet graph; Neo4j 5.26.0, databases neo4j,system) from server graph.shop.svc:6362 on \"0 3 * * *\" UTC to s3://prod-backups/neo4j/shop/graph")
	if got := metricValue(t, "neo4j_backup_cronjobs_managed", nil); got != managedBefore+1 {
		t.Errorf("neo4j_backup_cronjobs_managed = %v with the CronJob made, want %v", got, managedBefore+1)
	}

	// A change of nothing the CronJob is made from: reconciled, not written.
	reconciles := metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"})
	annotate(t, kube, "Namespace", "", "shop", map[string]string{"example.com/owner": "team-shop"})
	eventually(t, "a reconcile of the touched namespace", func(context.Context) (bool, error) {
		return metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"}) > reconciles, nil
	})
	if now, err := cronJobIn(ctx, kube, "shop", name); err != nil || now.ResourceVersion != cj.ResourceVersion {
		t.Errorf("the CronJob was written (resourceVersion %s → %s, error %v) though nothing it is made from changed", cj.ResourceVersion, now.ResourceVersion, err)
	}

	// Changed annotations, and a restore naming a backup ID: updated.
	annotate(t, kube, "Namespace", "", "shop", map[string]string{annotations.Keep: "24", annotations.Suspend: "true", annotations.Timezone: "Europe/Berlin", annotations.BackupMemory: "4Gi"})
	annotate(t, kube, "StatefulSet", "shop", "graph", map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"})
	wantArgs = "upload --from /backup/databases --id-file /backup/started-at --to s3://prod-backups/neo4j/shop/graph --databases neo4j,system --neo4j-version 5.26.0 --plan /backup/plan --inspect /backup/inspect --inspect-exit /backup/inspect.exit --keep 24 --in-use 2021-11-11T10:00:00Z --neo4j-admin-exit /backup/neo4j-admin.exit --termination-log /dev/termination-log"
	cj = waitCronJob(t, kube, "shop", name, "the CronJob updated to the new annotations", func(cj *batchv1.CronJob) bool {
		return uploadArgsOf(cj) == wantArgs && ptr.Deref(cj.Spec.Suspend, false) && ptr.Deref(cj.Spec.TimeZone, "") == "Europe/Berlin" &&
			strings.Contains(scriptOf(cj), "--pagecache=1024m") && func() bool { admin := adminOf(cj); return admin.Resources.Limits.Memory().String() == "4Gi" }()
	})
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonUpdated, "updated CronJob neo4j-backup-graph")

	// Someone edits the CronJob: the annotations win.
	cj.Spec.Schedule = "5 5 * * *"
	if _, err := kube.BatchV1().CronJobs("shop").Update(ctx, cj, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	waitCronJob(t, kube, "shop", name, "the edited schedule put back", func(cj *batchv1.CronJob) bool { return cj.Spec.Schedule == "0 3 * * *" })

	// Removing the schedule removes the CronJob.
	annotate(t, kube, "Namespace", "", "shop", map[string]string{annotations.Schedule: ""})
	waitGone(t, kube, "shop", name, "the CronJob removed")
	waitEvent(t, kube, "shop", corev1.EventTypeNormal, ReasonRemoved, "removed CronJob neo4j-backup-graph: the namespace no longer has neo4j-backup.io/schedule")
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
	cj := waitCronJob(t, kube, "strict", "neo4j-backup-graph", "the CronJob", func(*batchv1.CronJob) bool { return true })

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-by-hand", Labels: cj.Spec.JobTemplate.Spec.Template.Labels},
		Spec:       podSpec(cj),
	}
	if _, err := kube.CoreV1().Pods("strict").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the backup pod in a namespace enforcing the restricted standard: %v", err)
	}

	// What `kubectl create job --from=cronjob/neo4j-backup-graph` does.
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

// Two Neo4j StatefulSets, two deployments: two CronJobs. from picks the
// addresses of the one it points at; one it cannot place removes both with
// a Warning; a deployment that goes takes its CronJob with it.
func TestReconcilerBacksUpEachDeployment(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "twins", nil, nil)
	createStatefulSet(t, kube, "twins", neo4jStatefulSet("graph-a", "neo4j:5.26.0-enterprise"))
	createStatefulSet(t, kube, "twins", neo4jStatefulSet("graph-b", "neo4j:5.26.0-enterprise"))
	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.Schedule: "@daily"})

	for _, d := range []string{"graph-a", "graph-b"} {
		waitCronJob(t, kube, "twins", "neo4j-backup-"+d, "the CronJob of "+d, func(cj *batchv1.CronJob) bool {
			return strings.Contains(uploadArgsOf(cj), "--to "+clusterDestination+"/twins/"+d+" ") &&
				strings.Contains(scriptOf(cj), "--from="+d+".twins.svc:6362 ")
		})
	}

	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.From: "graph-b-0.graph-b.twins.svc:6362"})
	waitCronJob(t, kube, "twins", "neo4j-backup-graph-b", "graph-b backed up from the pod from names", func(cj *batchv1.CronJob) bool {
		return strings.Contains(scriptOf(cj), "--from=graph-b-0.graph-b.twins.svc:6362 ")
	})
	if cj, err := cronJobIn(ctx, kube, "twins", "neo4j-backup-graph-a"); err != nil || cj == nil || !strings.Contains(scriptOf(cj), "--from=graph-a.twins.svc:6362 ") {
		t.Errorf("graph-a's CronJob %v (error %v), want it backed up from its own Service still", cj, err)
	}

	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.From: "neo4j-lb.twins.svc:6362"})
	msg := waitEvent(t, kube, "twins", corev1.EventTypeWarning, ReasonNeo4jAmbiguous, "neo4j-backup.io/from=neo4j-lb.twins.svc:6362 points at none of the 2 Neo4j deployments in namespace twins (graph-a, graph-b)")
	if !strings.Contains(msg, "remove it to back each up from its own servers") {
		t.Errorf("Warning %q does not say how to back each up", msg)
	}
	waitGone(t, kube, "twins", "neo4j-backup-graph-a", "graph-a's CronJob removed")
	waitGone(t, kube, "twins", "neo4j-backup-graph-b", "graph-b's CronJob removed")

	annotate(t, kube, "Namespace", "", "twins", map[string]string{annotations.From: ""})
	waitCronJob(t, kube, "twins", "neo4j-backup-graph-b", "graph-b's CronJob back", func(*batchv1.CronJob) bool { return true })
	if err := kube.AppsV1().StatefulSets("twins").Delete(ctx, "graph-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, kube, "twins", "neo4j-backup-graph-a", "graph-a's CronJob removed with its StatefulSet")
	waitEvent(t, kube, "twins", corev1.EventTypeNormal, ReasonRemoved, "removed CronJob neo4j-backup-graph-a: no Neo4j deployment of the namespace has its name any more")
	if names, err := backupCronJobs(ctx, kube, "twins"); err != nil || strings.Join(names, ",") != "neo4j-backup-graph-b" {
		t.Errorf("namespace twins has CronJobs %v (error %v), want neo4j-backup-graph-b only", names, err)
	}
}

// chartCase reads a fixture under testdata/namespaces as `helm template
// --namespace namespace` would have rendered it there.
func chartCase(t *testing.T, file, namespace string) namespaceCase {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), ".graph.svc", "."+namespace+".svc"))
	var c namespaceCase
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c.Namespace.Name = namespace
	return c
}

// TestReconcilerBacksUpChartDeployments applies the StatefulSets of Neo4j's
// charts, as the charts render them, to namespaces annotated with a
// schedule: the reconciler makes the CronJobs the decide step says, one
// per deployment, from every server.
func TestReconcilerBacksUpChartDeployments(t *testing.T) {
	kube := startCluster(t)
	for _, tt := range []struct {
		file, namespace string
		cronJobs        []string
		from            map[string]string // CronJob → a piece of its script
	}{
		{"official-5-cluster", "official-5", []string{"neo4j-backup-my-cluster"}, map[string]string{
			"neo4j-backup-my-cluster": "--from=server-1-admin.official-5.svc.cluster.local:6362,server-2-admin.official-5.svc.cluster.local:6362,server-3-admin.official-5.svc.cluster.local:6362 "}},
		{"official-4-cluster", "official-4", []string{"neo4j-backup-my-cluster"}, map[string]string{
			"neo4j-backup-my-cluster": "--from=core-1-admin.official-4.svc.cluster.local:6362 "}},
		{"contrib-4-cluster", "contrib-4", []string{"neo4j-backup-my-neo4j"}, map[string]string{
			"neo4j-backup-my-neo4j": "--from=my-neo4j-neo4j.contrib-4.svc:6362 "}},
		{"two-charts", "two-charts", []string{"neo4j-backup-analytics", "neo4j-backup-my-neo4j"}, map[string]string{
			"neo4j-backup-analytics": "--from=analytics-admin.two-charts.svc.cluster.local:6362 ",
			"neo4j-backup-my-neo4j":  "--from=my-neo4j-neo4j.two-charts.svc:6362 "}},
		{"user-label", "user-label", []string{"neo4j-backup-graph"}, map[string]string{
			"neo4j-backup-graph": "--from=graph-a.user-label.svc:6362,graph-b.user-label.svc:6362 "}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			ctx := context.Background()
			c := chartCase(t, "testdata/namespaces/"+tt.file+".yaml", tt.namespace)
			newNamespace(t, kube, tt.namespace, nil, nil)
			for _, sts := range c.StatefulSets {
				// The charts' ServiceAccounts, so that the pods the statefulset
				// controller makes are admitted.
				if sa := sts.Spec.Template.Spec.ServiceAccountName; sa != "" {
					_, err := kube.CoreV1().ServiceAccounts(tt.namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
					if err != nil && !apierrors.IsAlreadyExists(err) {
						t.Fatal(err)
					}
				}
				sts.Namespace = ""
				createStatefulSet(t, kube, tt.namespace, &sts)
			}
			annotate(t, kube, "Namespace", "", tt.namespace, c.Namespace.Annotations)

			p := planBackups(c.Namespace.Name, c.Namespace.Annotations, c.StatefulSets, nil, Config{Image: testImage, DefaultDestination: clusterDestination})
			if len(p.backups) != len(tt.cronJobs) || len(p.problems) > 0 {
				t.Fatalf("the decide step makes %d CronJobs and says %v; want %d", len(p.backups), p.problems, len(tt.cronJobs))
			}
			for _, s := range p.backups {
				want := cronJob(s)
				if !strings.Contains(scriptOf(want), tt.from[want.Name]) {
					t.Errorf("the decide step backs %s up with\n%s\nwant it to contain %q", want.Name, scriptOf(want), tt.from[want.Name])
				}
				waitCronJob(t, kube, tt.namespace, want.Name, "CronJob "+want.Name+" as the decide step makes it", func(cj *batchv1.CronJob) bool {
					return scriptOf(cj) == scriptOf(want) && uploadArgsOf(cj) == uploadArgsOf(want) && podSpec(cj).ServiceAccountName == podSpec(want).ServiceAccountName
				})
			}
			if names, err := backupCronJobs(ctx, kube, tt.namespace); err != nil || !slices.Equal(names, tt.cronJobs) {
				t.Errorf("namespace %s has CronJobs %v (error %v), want %v", tt.namespace, names, err, tt.cronJobs)
			}
		})
	}
}

// A hand-made 5.x cluster of three replicas is backed up pod by pod; a
// restore scales it to 0, annotates it and scales it back, and the
// addresses never change: the only write is the backup ID the restore
// names, kept from retention.
func TestReconcilerKeepsAddressesWhileScaledDown(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "scaled", map[string]string{annotations.Schedule: "@daily", annotations.Keep: "7d"}, nil)
	sts := neo4jStatefulSet("graph", "neo4j:2025.06.0-enterprise")
	sts.Spec.Replicas = ptr.To[int32](3)
	createStatefulSet(t, kube, "scaled", sts)
	const from = "--from=graph-0.graph.scaled.svc:6362,graph-1.graph.scaled.svc:6362,graph-2.graph.scaled.svc:6362 "
	cj := waitCronJob(t, kube, "scaled", "neo4j-backup-graph", "the CronJob from the three pods", func(cj *batchv1.CronJob) bool {
		return strings.Contains(scriptOf(cj), from)
	})
	if got := cj.Annotations[annotations.Replicas]; got != "graph=3" {
		t.Errorf("CronJob annotation %s = %q, want graph=3", annotations.Replicas, got)
	}
	generation := cj.Generation

	scale := func(n int32) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		if _, err := kube.AppsV1().StatefulSets("scaled").Patch(ctx, "graph", types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
			t.Fatal(err)
		}
	}
	// The restore's steps. Each annotation change must reach the CronJob,
	// which proves the reconciler saw the scale before it.
	scale(0)
	annotate(t, kube, "StatefulSet", "scaled", "graph", map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"})
	cj = waitCronJob(t, kube, "scaled", "neo4j-backup-graph", "the restored backup kept from retention", func(cj *batchv1.CronJob) bool {
		return strings.Contains(uploadArgsOf(cj), "--in-use 2021-11-11T10:00:00Z")
	})
	if !strings.Contains(scriptOf(cj), from) || cj.Annotations[annotations.Replicas] != "graph=3" || cj.Generation != generation+1 {
		t.Errorf("at 0 replicas the CronJob (generation %d → %d) backs up with\n%s\nand records %q; want one write, from the three pods, graph=3",
			generation, cj.Generation, scriptOf(cj), cj.Annotations[annotations.Replicas])
	}
	scale(3)
	annotate(t, kube, "StatefulSet", "scaled", "graph", map[string]string{annotations.Restore: ""})
	cj = waitCronJob(t, kube, "scaled", "neo4j-backup-graph", "the restore annotation gone", func(cj *batchv1.CronJob) bool {
		return !strings.Contains(uploadArgsOf(cj), "--in-use")
	})
	if !strings.Contains(scriptOf(cj), from) || cj.Generation != generation+2 {
		t.Errorf("scaled back, the CronJob (generation %d → %d) backs up with\n%s\nwant two writes in all, from the three pods", generation, cj.Generation, scriptOf(cj))
	}
}

func TestReconcilerWarnsOnCommunityImage(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	const name = "neo4j-backup-graph"
	newNamespace(t, kube, "community", map[string]string{annotations.Schedule: "@daily"}, nil)
	createStatefulSet(t, kube, "community", neo4jStatefulSet("graph", "neo4j:5.26.0"))
	waitEvent(t, kube, "community", corev1.EventTypeWarning, ReasonImageUnsupported, "StatefulSet graph runs neo4j:5.26.0, which is Neo4j Community")
	if cj, err := cronJobIn(ctx, kube, "community", name); err != nil || cj != nil {
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
	waitCronJob(t, kube, "community", name, "the CronJob for Enterprise", func(*batchv1.CronJob) bool { return true })
	setImage("neo4j:5.26.1")
	waitGone(t, kube, "community", name, "the CronJob removed for Community")
	waitEvent(t, kube, "community", corev1.EventTypeWarning, ReasonImageUnsupported, "runs neo4j:5.26.1, which is Neo4j Community")
}

// handMadeCronJob is a backup CronJob someone wrote by hand (the s3cmd one
// neo4j-backup replaces), with labels.
func handMadeCronJob(name string, labels map[string]string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 1 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "s3cmd", Image: "example/s3cmd:1"}},
			}}}},
		},
	}
}

func TestReconcilerLeavesForeignCronJobAlone(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "handmade", nil, nil)
	createStatefulSet(t, kube, "handmade", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))
	createStatefulSet(t, kube, "handmade", neo4jStatefulSet("search", "neo4j:5.26.0-enterprise"))
	// Hand-written CronJobs without our label: one under the name of the
	// CronJob neo4j-backup would make for graph, one under the old name.
	var foreign []*batchv1.CronJob
	for _, name := range []string{"neo4j-backup-graph", Name} {
		cj, err := kube.BatchV1().CronJobs("handmade").Create(ctx, handMadeCronJob(name, nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		foreign = append(foreign, cj)
	}
	annotate(t, kube, "Namespace", "", "handmade", map[string]string{annotations.Schedule: "@daily"})
	waitEvent(t, kube, "handmade", corev1.EventTypeWarning, ReasonCronJobNameTaken, "namespace handmade has a CronJob neo4j-backup-graph that neo4j-backup did not make")
	// The other deployment is backed up all the same.
	waitCronJob(t, kube, "handmade", "neo4j-backup-search", "the CronJob of search", func(*batchv1.CronJob) bool { return true })
	for _, old := range foreign {
		if now, err := cronJobIn(ctx, kube, "handmade", old.Name); err != nil || now == nil || now.ResourceVersion != old.ResourceVersion {
			t.Errorf("the hand-made CronJob %s was changed or removed (error %v)", old.Name, err)
		}
	}
}

// The one CronJob per namespace that earlier versions made, neo4j-backup
// with our label, gives way to the deployment's.
func TestReconcilerRemovesCronJobOfEarlierVersions(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	newNamespace(t, kube, "upgraded", map[string]string{annotations.Schedule: "@daily"}, nil)
	createStatefulSet(t, kube, "upgraded", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))
	waitCronJob(t, kube, "upgraded", "neo4j-backup-graph", "the deployment's CronJob", func(*batchv1.CronJob) bool { return true })
	// What an earlier version left: removed, the deployment's kept.
	if _, err := kube.BatchV1().CronJobs("upgraded").Create(ctx, handMadeCronJob(Name, managedLabels()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, kube, "upgraded", corev1.EventTypeNormal, ReasonRemoved, "removed CronJob neo4j-backup: backups are made per Neo4j deployment now, by CronJob neo4j-backup-graph")
	waitGone(t, kube, "upgraded", Name, "the CronJob of earlier versions removed")
	if names, err := backupCronJobs(ctx, kube, "upgraded"); err != nil || strings.Join(names, ",") != "neo4j-backup-graph" {
		t.Errorf("namespace upgraded has CronJobs %v (error %v), want neo4j-backup-graph only", names, err)
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
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		for i, s := range fc.plan(fc.StatefulSets).backups {
			applied++
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				s.Namespace = "fixtures"
				want := cronJob(s)
				// Not neo4j-backup-…: the running reconciler would remove that
				// from a namespace without a schedule.
				want.Name = fmt.Sprintf("%s-%d", strings.ReplaceAll(name, ".", "-"), i)
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
	}
	if applied < 15 {
		t.Errorf("applied %d fixtures' CronJobs, want at least 15", applied)
	}
}

// neo4j-backup.io/verify-schedule stamps out a restore drill beside each
// backup CronJob, told apart by its component label and not counted as a
// backup; it goes when the annotation, the backup or the deployment goes.
// A deployment named verify-x keeps its backup CronJob
// neo4j-backup-verify-x, and the drill of x that would take the name
// gets a Warning instead.
func TestReconcilerStampsRestoreDrills(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	managedBefore := metricValue(t, "neo4j_backup_cronjobs_managed", nil)
	newNamespace(t, kube, "drilled", map[string]string{
		annotations.Schedule:          "0 3 * * *",
		annotations.VerifySchedule:    "0 5 * * 0",
		annotations.CredentialsSecret: "s3-creds",
		annotations.VolumeSize:        "1Gi",
	}, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	createStatefulSet(t, kube, "drilled", neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"))

	backupCJ := waitCronJob(t, kube, "drilled", "neo4j-backup-graph", "the backup CronJob", func(*batchv1.CronJob) bool { return true })
	for what, l := range map[string]map[string]string{"CronJob": backupCJ.Labels, "Job template": backupCJ.Spec.JobTemplate.Labels, "pod template": backupCJ.Spec.JobTemplate.Spec.Template.Labels} {
		if l[LabelComponent] != ComponentBackup || l[LabelDeployment] != "graph" {
			t.Errorf("backup %s labels %v; want component backup, deployment graph", what, l)
		}
	}
	drill := waitCronJob(t, kube, "drilled", "neo4j-backup-verify-graph", "the drill CronJob", func(*batchv1.CronJob) bool { return true })
	for what, l := range map[string]map[string]string{"CronJob": drill.Labels, "Job template": drill.Spec.JobTemplate.Labels, "pod template": drill.Spec.JobTemplate.Spec.Template.Labels} {
		if l[LabelComponent] != ComponentDrill || l[LabelDeployment] != "graph" || l[LabelManagedBy] != managedBy {
			t.Errorf("drill %s labels %v; want component restore-drill, deployment graph, managed by us", what, l)
		}
	}
	pod := podSpec(drill)
	if drill.Spec.Schedule != "0 5 * * 0" || drill.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || resultNamesOf(pod) != "fetch,restore-check,report" ||
		pod.InitContainers[1].Image != "neo4j:5.26.0-enterprise" || pod.Volumes[0].Ephemeral == nil {
		t.Errorf("drill CronJob %q %s, containers %s, Neo4j image %s, volume %+v; want 0 5 * * 0, Forbid, fetch,restore-check,report in neo4j:5.26.0-enterprise on an ephemeral volume",
			drill.Spec.Schedule, drill.Spec.ConcurrencyPolicy, resultNamesOf(pod), pod.InitContainers[1].Image, pod.Volumes[0])
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.Name != scratchVolume {
				t.Errorf("drill container %s mounts %s; want the scratch volume only", c.Name, m.Name)
			}
		}
	}
	waitEvent(t, kube, "drilled", corev1.EventTypeNormal, ReasonDrillCreated, "created CronJob neo4j-backup-verify-graph: restore drill of Neo4j deployment graph")
	eventually(t, "neo4j_backup_cronjobs_managed counting the backup only", func(context.Context) (bool, error) {
		return metricValue(t, "neo4j_backup_cronjobs_managed", nil) == managedBefore+1, nil
	})
	// The restricted standard admits the drill's pod, as the Job controller makes it.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "drill-now", Labels: drill.Spec.JobTemplate.Labels}, Spec: drill.Spec.JobTemplate.Spec}
	if _, err := kube.BatchV1().Jobs("drilled").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Job controller's drill pod", func(ctx context.Context) (bool, error) {
		pods, err := kube.CoreV1().Pods("drilled").List(ctx, metav1.ListOptions{LabelSelector: "job-name=drill-now"})
		return err == nil && len(pods.Items) == 1, nil
	})

	// Nothing the drill is made from changes: it is not written again.
	reconciles := metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"})
	annotate(t, kube, "Namespace", "", "drilled", map[string]string{"example.com/owner": "team-graph"})
	eventually(t, "a reconcile of the touched namespace", func(context.Context) (bool, error) {
		return metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": "backup"}) > reconciles, nil
	})
	if now, err := cronJobIn(ctx, kube, "drilled", drill.Name); err != nil || now.ResourceVersion != drill.ResourceVersion {
		t.Errorf("the drill CronJob was written (resourceVersion %s → %s, error %v) though nothing it is made from changed", drill.ResourceVersion, now.ResourceVersion, err)
	}

	// A deployment named verify-graph: its backup takes the name, the
	// drill of graph gives way with a Warning, verify-graph gets its own.
	createStatefulSet(t, kube, "drilled", neo4jStatefulSet("verify-graph", "neo4j:5.26.0-enterprise"))
	waitCronJob(t, kube, "drilled", "neo4j-backup-verify-graph", "verify-graph's backup CronJob in the drill's place", func(cj *batchv1.CronJob) bool {
		return cj.Labels[LabelComponent] == ComponentBackup && cj.Labels[LabelDeployment] == "verify-graph"
	})
	waitCronJob(t, kube, "drilled", "neo4j-backup-verify-verify-graph", "verify-graph's drill", func(cj *batchv1.CronJob) bool { return isDrillCronJob(cj) })
	waitEvent(t, kube, "drilled", corev1.EventTypeWarning, ReasonDrillNameTaken, "the restore drill of Neo4j deployment graph would be CronJob neo4j-backup-verify-graph")
	eventually(t, "neo4j_backup_cronjobs_managed counting the two backups", func(context.Context) (bool, error) {
		return metricValue(t, "neo4j_backup_cronjobs_managed", nil) == managedBefore+2, nil
	})
	if err := kube.AppsV1().StatefulSets("drilled").Delete(ctx, "verify-graph", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, kube, "drilled", "neo4j-backup-verify-verify-graph", "verify-graph's drill, with its deployment")
	waitCronJob(t, kube, "drilled", "neo4j-backup-verify-graph", "graph's drill back", func(cj *batchv1.CronJob) bool { return isDrillCronJob(cj) })

	// The annotation goes: the drill goes, the backup stays.
	annotate(t, kube, "Namespace", "", "drilled", map[string]string{annotations.VerifySchedule: ""})
	waitGone(t, kube, "drilled", "neo4j-backup-verify-graph", "the drill removed")
	waitEvent(t, kube, "drilled", corev1.EventTypeNormal, ReasonRemoved, "removed CronJob neo4j-backup-verify-graph: the namespace no longer has neo4j-backup.io/verify-schedule")
	if names, err := backupCronJobs(ctx, kube, "drilled"); err != nil || strings.Join(names, ",") != "neo4j-backup-graph" {
		t.Errorf("namespace drilled has CronJobs %v (error %v), want the backup neo4j-backup-graph only", names, err)
	}

	// Back, then the backup's schedule goes: both go.
	annotate(t, kube, "Namespace", "", "drilled", map[string]string{annotations.VerifySchedule: "@weekly"})
	waitCronJob(t, kube, "drilled", "neo4j-backup-verify-graph", "the drill again", func(cj *batchv1.CronJob) bool { return cj.Spec.Schedule == "@weekly" })
	annotate(t, kube, "Namespace", "", "drilled", map[string]string{annotations.Schedule: ""})
	waitGone(t, kube, "drilled", "neo4j-backup-verify-graph", "the drill removed with the backup schedule")
	waitGone(t, kube, "drilled", "neo4j-backup-graph", "the backup removed")
}

func resultNamesOf(pod corev1.PodSpec) string {
	var names []string
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}
