package rollout

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func statefulSet(meta, template map[string]string) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "graph", Namespace: "db", Annotations: meta}}
	sts.Spec.Replicas = ptr.To[int32](3)
	sts.Spec.Template.Annotations = template
	return sts
}

// Settings reads what the pods will carry from the apiserver's answer to a
// dry-run of the annotation patch (here a fake that answers with the case's
// pod template, as the webhook would leave it), and changes nothing.
func TestSettings(t *testing.T) {
	ns := map[string]string{
		"neo4j-backup.io/destination": "s3://backups/neo4j",
		"neo4j-backup.io/endpoint":    "minio.storage:9000",
		"neo4j-backup.io/region":      "eu-west-1",
	}
	const at = "2021-11-12T10:00:00Z"
	restoring := map[string]string{"neo4j-backup.io/restore": at}
	cases := []struct {
		name               string
		template, ns       map[string]string // the dry run's pod template; the Namespace's annotations
		labels             map[string]string // the dry run's pod template's labels
		databases          []string
		defaultDestination string
		from, endpoint     string
		wantErr            string
	}{
		{name: "from the namespace", template: restoring, ns: ns,
			from: "s3://backups/neo4j/db/graph", endpoint: "minio.storage:9000"},
		{name: "the template's own place and endpoint", ns: ns,
			template: map[string]string{"neo4j-backup.io/restore": at, "neo4j-backup.io/restore-from": "s3://old/neo4j/prod/graph", "neo4j-backup.io/endpoint": "s3.example.com"},
			from:     "s3://old/neo4j/prod/graph", endpoint: "s3.example.com"},
		{name: "the server's default destination", template: restoring, defaultDestination: "s3://everything/backups",
			from: "s3://everything/backups/db/graph"},
		{name: "a server of the official chart restores from its cluster's folder", template: restoring, ns: ns,
			labels: map[string]string{"app": "my-cluster", "helm.neo4j.com/neo4j.name": "my-cluster"},
			from:   "s3://backups/neo4j/db/my-cluster", endpoint: "minio.storage:9000"},
		{name: "the user's deployment label, as the webhook copies it", template: restoring, ns: ns,
			labels: map[string]string{"neo4j-backup.io/deployment": "shop-graph", "helm.neo4j.com/neo4j.name": "my-cluster"},
			from:   "s3://backups/neo4j/db/shop-graph", endpoint: "minio.storage:9000"},
		{name: "no webhook: the template did not get the annotation", template: nil, ns: ns,
			wantErr: "annotating StatefulSet graph would not reach its pod template (a dry run left neo4j-backup.io/restore=\"\" there): the neo4j-backup webhook that copies it is not installed or not running; nothing was changed"},
		{name: "no destination", template: restoring, wantErr: "no backup destination: annotate namespace db with neo4j-backup.io/destination"},
		{name: "a bad annotation", template: map[string]string{"neo4j-backup.io/restore": at, "neo4j-backup.io/region": "Europe West"}, ns: ns,
			wantErr: `StatefulSet graph: neo4j-backup.io/region: "Europe West" is not a region name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db", Annotations: c.ns}}, statefulSet(nil, nil))
			var sent []k8stesting.PatchActionImpl
			kube.PrependReactor("patch", "statefulsets", func(action k8stesting.Action) (bool, runtime.Object, error) {
				patch := action.(k8stesting.PatchActionImpl)
				sent = append(sent, patch)
				answer := statefulSet(nil, maps.Clone(c.template))
				answer.Spec.Template.Labels = c.labels
				return true, answer, nil
			})
			s, err := Load(context.Background(), kube, "db", "graph")
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Settings(context.Background(), at, c.databases, c.defaultDestination)
			if len(sent) != 1 || !slices.Equal(sent[0].PatchOptions.DryRun, []string{metav1.DryRunAll}) || string(sent[0].GetPatch()) != string(annotationPatch(at, c.databases)) {
				t.Fatalf("sent %d patches %v; want one dry run of %s", len(sent), sent, annotationPatch(at, c.databases))
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v; want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.At != at || got.From.String() != c.from || got.Endpoint != c.endpoint {
				t.Errorf("got at %s, from %s, endpoint %q; want from %s, endpoint %q", got.At, got.From, got.Endpoint, c.from, c.endpoint)
			}
		})
	}
}

// Wherever the rollout stops, it says where it left the StatefulSet and the
// command that finishes or undoes it.
func TestLeft(t *testing.T) {
	earlier := map[string]string{"neo4j-backup.io/restore": "2021-11-01T10:00:00Z", "neo4j-backup.io/restore-databases": "neo4j"}
	cases := []struct {
		name      string
		stage     stage
		meta      map[string]string
		databases []string
		want      string
	}{
		{"untouched", untouched, nil, nil, "nothing was changed"},
		{"scaled down", scaledDown, nil, nil,
			"graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"},
		{"annotated", annotated, nil, nil,
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back restoring 2021-11-12T10:00:00Z, or first `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore-` to bring it back as it was"},
		{"annotated over an earlier restore", annotated, earlier, []string{"system"},
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back restoring 2021-11-12T10:00:00Z, or first `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore=2021-11-01T10:00:00Z neo4j-backup.io/restore-databases=neo4j` to bring it back as it was"},
		{"annotated as before", annotated, map[string]string{"neo4j-backup.io/restore": "2021-11-12T10:00:00Z"}, nil,
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, as it was before; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back"},
		{"scaled up", scaledUp, nil, nil,
			"graph is back at 3 replicas and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, so its pods restore that backup as they start; `kubectl get pods -n db` shows them"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &rollout{StatefulSet: &StatefulSet{sts: statefulSet(c.meta, nil)}, id: backupID, databases: c.databases, replicas: 3, stage: c.stage}
			if got := r.left(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestAnnotationPatch(t *testing.T) {
	for _, c := range []struct {
		databases []string
		want      string
	}{
		{nil, `{"metadata":{"annotations":{"neo4j-backup.io/restore":"2021-11-12T10:00:00Z","neo4j-backup.io/restore-databases":null}}}`},
		{[]string{"neo4j", "system"}, `{"metadata":{"annotations":{"neo4j-backup.io/restore":"2021-11-12T10:00:00Z","neo4j-backup.io/restore-databases":"neo4j,system"}}}`},
	} {
		if got := string(annotationPatch(backupID, c.databases)); got != c.want {
			t.Errorf("databases %v: got %s, want %s", c.databases, got, c.want)
		}
	}
}

// A StatefulSet on a fake API with one pod that never stops (no
// statefulset controller runs there) and no webhook.
func fakeCluster(t *testing.T, pods int) (*fake.Clientset, *StatefulSet) {
	t.Helper()
	sts := statefulSet(nil, nil)
	sts.UID = "sts-uid"
	sts.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "graph"}}
	objects := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db"}}, sts}
	for i := range pods {
		objects = append(objects, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("graph-%d", i), Namespace: "db", Labels: map[string]string{"app": "graph"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "graph", UID: "sts-uid", Controller: ptr.To(true)}},
		}})
	}
	kube := fake.NewClientset(objects...)
	s, err := Load(context.Background(), kube, "db", "graph")
	if err != nil {
		t.Fatal(err)
	}
	return kube, s
}

func replicasAndAnnotations(t *testing.T, kube *fake.Clientset) (int32, map[string]string) {
	t.Helper()
	sts, err := kube.AppsV1().StatefulSets("db").Get(context.Background(), "graph", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *sts.Spec.Replicas, sts.Annotations
}

// Without the webhook the annotation never reaches the pod template: the
// rollout scales the StatefulSet back and says how to undo the annotation.
func TestRunWithoutTheWebhook(t *testing.T) {
	kube, s := fakeCluster(t, 0)
	_, err := s.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "annotating graph: its pod template did not get neo4j-backup.io/restore=2021-11-12T10:00:00Z: the neo4j-backup webhook that copies it there is not installed or not running; " +
		"scaled it back to 3 replicas; run `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore-` to put its annotations back as they were"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if n, _ := replicasAndAnnotations(t, kube); n != 3 {
		t.Errorf("graph was left at %d replicas, want 3", n)
	}
}

// Interrupted while its pods stop, the StatefulSet stays at 0, unannotated,
// and the error says how to bring it back.
func TestRunInterrupted(t *testing.T) {
	kube, s := fakeCluster(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lists := 0
	kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if lists++; lists == 2 {
			cancel() // Ctrl-C while the pod is still there
		}
		return false, nil, nil
	})
	_, err := s.Run(ctx, backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "interrupted: graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if n, annotations := replicasAndAnnotations(t, kube); n != 0 || len(annotations) != 0 {
		t.Errorf("graph was left at %d replicas with annotations %v, want 0 and none", n, annotations)
	}
}

// A pod that does not stop within --timeout stops the rollout before the
// annotation.
func TestRunTimesOut(t *testing.T) {
	kube, s := fakeCluster(t, 1)
	_, err := s.Run(context.Background(), backupID, nil, Options{Timeout: 20 * time.Millisecond, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "waiting for the pods of graph to stop: 1 of its pods were still there after --timeout 20ms; graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if _, annotations := replicasAndAnnotations(t, kube); len(annotations) != 0 {
		t.Errorf("graph was annotated %v", annotations)
	}
}
