package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/annotations"
)

func statefulSet(meta, template map[string]string) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "graph", Namespace: "db", Annotations: meta}}
	sts.Spec.Replicas = ptr.To[int32](3)
	sts.Spec.Template.Annotations = template
	return sts
}

// server is a Neo4j StatefulSet of namespace db with these labels on
// itself and its pod template, as Neo4j's charts label both.
func server(name string, replicas int32, labels map[string]string) *appsv1.StatefulSet {
	selector := map[string]string{"app": name}
	all := maps.Clone(selector)
	maps.Copy(all, labels)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", UID: types.UID("uid-" + name), Labels: all}}
	sts.Spec.Replicas = ptr.To(replicas)
	sts.Spec.Selector = &metav1.LabelSelector{MatchLabels: selector}
	sts.Spec.Template.Labels = all
	sts.Spec.Template.Spec.Containers = []corev1.Container{{Name: "neo4j", Image: "neo4j:4.4.40-enterprise"}}
	return sts
}

var official = map[string]string{"helm.neo4j.com/neo4j.name": "my-cluster"}

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
			d, err := LoadStatefulSet(context.Background(), kube, "db", "graph")
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Settings(context.Background(), at, c.databases, c.defaultDestination)
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

// Every StatefulSet of a deployment is dry-run, and one backup restores
// them all only if they all restore from one place.
func TestSettingsOfADeployment(t *testing.T) {
	const at = "2021-11-12T10:00:00Z"
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db", Annotations: map[string]string{"neo4j-backup.io/destination": "s3://backups/neo4j"}}}
	for _, c := range []struct {
		name    string
		own     map[string]map[string]string // a StatefulSet's own annotations, as its dry run's template carries them
		from    string
		wantErr string
	}{
		{name: "one place", from: "s3://backups/neo4j/db/my-cluster"},
		{name: "one of them restores from elsewhere",
			own:     map[string]map[string]string{"server-2": {"neo4j-backup.io/restore-from": "s3://old/neo4j/db/server-2"}},
			wantErr: "StatefulSets server-1 and server-2 would restore from different places (s3://backups/neo4j/db/my-cluster, s3://old/neo4j/db/server-2), and one backup restores a deployment; make their neo4j-backup.io/restore-from, neo4j-backup.io/endpoint and neo4j-backup.io/region annotations agree; nothing was changed"},
		{name: "one of them at another endpoint",
			own:     map[string]map[string]string{"server-3": {"neo4j-backup.io/endpoint": "s3.example.com"}},
			wantErr: "StatefulSets server-1 and server-3 would restore from different places (s3://backups/neo4j/db/my-cluster, s3://backups/neo4j/db/my-cluster at s3.example.com)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			kube := fake.NewClientset(ns, server("server-1", 1, official), server("server-2", 1, official), server("server-3", 1, official))
			var dryRuns []string
			kube.PrependReactor("patch", "statefulsets", func(action k8stesting.Action) (bool, runtime.Object, error) {
				patch := action.(k8stesting.PatchActionImpl)
				if !slices.Equal(patch.PatchOptions.DryRun, []string{metav1.DryRunAll}) {
					t.Errorf("Settings sent a patch of %s that is not a dry run", patch.Name)
				}
				dryRuns = append(dryRuns, patch.Name)
				answer := server(patch.Name, 1, official)
				answer.Spec.Template.Annotations = map[string]string{"neo4j-backup.io/restore": at}
				maps.Copy(answer.Spec.Template.Annotations, c.own[patch.Name])
				return true, answer, nil
			})
			d, err := LoadDeployment(context.Background(), kube, "db", "my-cluster")
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Settings(context.Background(), at, nil, "")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v\nwant one saying %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"server-1", "server-2", "server-3"}; !slices.Equal(dryRuns, want) {
				t.Errorf("dry runs of %v, want of %v", dryRuns, want)
			}
			if got.From.String() != c.from {
				t.Errorf("from %s, want %s", got.From, c.from)
			}
		})
	}
}

// A deployment is picked from a namespace's StatefulSets as the backup
// reconciler groups them.
func TestPick(t *testing.T) {
	contrib := func(component string) map[string]string {
		return map[string]string{"app.kubernetes.io/instance": "graph", "app.kubernetes.io/name": "neo4j", "app.kubernetes.io/component": component}
	}
	notNeo4j := server("cache", 1, nil)
	notNeo4j.Spec.Template.Spec.Containers = []corev1.Container{{Name: "redis", Image: "redis:7"}}
	deleting := server("server-4", 1, official)
	deleting.DeletionTimestamp = &metav1.Time{}
	templateOnly := server("server-5", 1, nil)
	templateOnly.Spec.Template.Labels = maps.Clone(official)
	namespace := []*appsv1.StatefulSet{
		server("server-2", 1, official), server("server-1", 1, official), server("server-3", 1, official),
		server("graph-core", 3, contrib("core")), server("graph-replica", 2, contrib("replica")),
		server("a", 1, map[string]string{"neo4j-backup.io/deployment": "shop", "helm.neo4j.com/neo4j.name": "other"}),
		server("b", 1, map[string]string{"neo4j-backup.io/deployment": "shop"}),
		server("alone", 1, nil), notNeo4j, deleting,
	}
	cases := []struct {
		name, deployment string
		statefulSets     []*appsv1.StatefulSet
		want             []string
		by, wantErr      string
	}{
		{name: "the official chart", deployment: "my-cluster", want: []string{"server-1", "server-2", "server-3"}, by: "label helm.neo4j.com/neo4j.name"},
		{name: "the neo4j-contrib chart", deployment: "graph", want: []string{"graph-core", "graph-replica"},
			by: "labels app.kubernetes.io/instance and app.kubernetes.io/name=neo4j"},
		{name: "the user's label wins over the chart's", deployment: "shop", want: []string{"a", "b"}, by: "label neo4j-backup.io/deployment"},
		{name: "a StatefulSet alone", deployment: "alone", want: []string{"alone"}},
		{name: "the chart's label on the pod template only", deployment: "my-cluster",
			statefulSets: []*appsv1.StatefulSet{server("server-1", 1, official), templateOnly},
			want:         []string{"server-1", "server-5"}, by: "label helm.neo4j.com/neo4j.name"},
		{name: "none of that name", deployment: "my-clster",
			wantErr: "there is no Neo4j deployment my-clster in namespace db, only alone, graph, my-cluster, shop; pass one of them to --deployment"},
		{name: "a StatefulSet that runs no Neo4j", deployment: "cache",
			wantErr: "there is no Neo4j deployment cache in namespace db, only alone, graph, my-cluster, shop; pass one of them to --deployment"},
		{name: "a member of another deployment", deployment: "a",
			wantErr: "there is no Neo4j deployment a in namespace db, only alone, graph, my-cluster, shop"},
		{name: "no Neo4j at all", deployment: "graph", statefulSets: []*appsv1.StatefulSet{notNeo4j},
			wantErr: "there is no Neo4j deployment graph in namespace db: it has no StatefulSet that runs Neo4j; kubectl get statefulsets -n db lists them"},
		{name: "two rules give one name", deployment: "graph",
			statefulSets: []*appsv1.StatefulSet{server("graph", 1, nil), server("b", 1, map[string]string{"neo4j-backup.io/deployment": "graph"})},
			wantErr:      "StatefulSets graph (alone, named after it) and b (by label neo4j-backup.io/deployment) would all be Neo4j deployment graph of namespace db, so it is not restored; if they are one Neo4j, run kubectl label statefulset -n db b graph neo4j-backup.io/deployment=graph, else label those of the other Neo4j neo4j-backup.io/deployment=<another name>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var all []appsv1.StatefulSet
			for _, sts := range cmpOr(c.statefulSets, namespace) {
				all = append(all, *sts)
			}
			got, by, err := pick(c.deployment, "db", all)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v\nwant one saying %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, sts := range got {
				names = append(names, sts.Name)
			}
			if !slices.Equal(names, c.want) || by != c.by {
				t.Errorf("picked %v by %q, want %v by %q", names, by, c.want, c.by)
			}
		})
	}
}

func cmpOr[T any](a, b []T) []T {
	if len(a) > 0 {
		return a
	}
	return b
}

// rolloutAt is a rollout of StatefulSets name: replicas of namespace db
// with annotations meta before it, each at its stage (else untouched);
// rolledBack names those it had annotated before it rolled back.
func rolloutAt(target string, meta map[string]string, databases []string, stages map[string]stage, replicas map[string]int32, rolledBack ...string) *rollout {
	r := &rollout{Deployment: &Deployment{namespace: "db", target: target}, id: backupID, databases: databases}
	names := slices.Sorted(maps.Keys(replicas))
	for _, name := range names {
		sts := server(name, replicas[name], nil)
		sts.Annotations = meta
		s := &state{member: &member{sts: sts}, stage: stages[name], annotated: slices.Contains(rolledBack, name) || stages[name] == annotated}
		r.states = append(r.states, s)
	}
	return r
}

// Wherever the rollout stops, it says where it left each StatefulSet and
// the commands that finish or undo it, keeping a deployment whole.
func TestLeft(t *testing.T) {
	earlier := map[string]string{"neo4j-backup.io/restore": "2021-11-01T10:00:00Z", "neo4j-backup.io/restore-databases": "neo4j"}
	graph := map[string]int32{"graph": 3}
	cluster := map[string]int32{"server-1": 1, "server-2": 1, "server-3": 1}
	mixed := map[string]int32{"core": 3, "replica": 2}
	all := func(st stage, names map[string]int32) map[string]stage {
		out := map[string]stage{}
		for n := range names {
			out[n] = st
		}
		return out
	}
	cases := []struct {
		name string
		r    *rollout
		want string
	}{
		{"untouched", rolloutAt("--statefulset graph", nil, nil, all(untouched, graph), graph), "nothing was changed"},
		{"scaled down", rolloutAt("--statefulset graph", nil, nil, all(scaledDown, graph), graph),
			"graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"},
		{"annotated", rolloutAt("--statefulset graph", nil, nil, all(annotated, graph), graph),
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back restoring 2021-11-12T10:00:00Z, or first `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore-` to bring it back as it was"},
		{"annotated over an earlier restore", rolloutAt("--statefulset graph", earlier, []string{"system"}, all(annotated, graph), graph),
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back restoring 2021-11-12T10:00:00Z, or first `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore=2021-11-01T10:00:00Z neo4j-backup.io/restore-databases=neo4j` to bring it back as it was"},
		{"annotated as before", rolloutAt("--statefulset graph", map[string]string{"neo4j-backup.io/restore": "2021-11-12T10:00:00Z"}, nil, all(annotated, graph), graph),
			"graph is scaled to 0 (was 3) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, as it was before; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back"},
		{"scaled up", rolloutAt("--statefulset graph", nil, nil, all(scaledUp, graph), graph),
			"graph is back at 3 replicas and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, so its pods restore that backup as they start; `kubectl get pods -n db` shows them"},
		{"rolled back after its annotation", rolloutAt("--statefulset graph", nil, nil, all(rolledBack, graph), graph, "graph"),
			"graph is back at 3 replicas, as before; run `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore-` to put its annotations back as they were"},
		{"rolled back, not annotated", rolloutAt("--statefulset graph", nil, nil, all(rolledBack, graph), graph),
			"graph is back at 3 replicas, as before"},

		{"a deployment scaled down", rolloutAt("--deployment my-cluster", nil, nil, all(scaledDown, cluster), cluster),
			"server-1, server-2 and server-3 are scaled to 0 (were 1 each) and not annotated; run `kubectl scale statefulset server-1 server-2 server-3 -n db --replicas=1` to bring them back as they were"},
		{"a deployment of different sizes scaled down", rolloutAt("--deployment graph", nil, nil, all(scaledDown, mixed), mixed),
			"core and replica are scaled to 0 (were 3 and 2) and not annotated; run `kubectl scale statefulset core -n db --replicas=3` and `kubectl scale statefulset replica -n db --replicas=2` to bring them back as they were"},
		{"scaling down stopped at the second", rolloutAt("--deployment my-cluster", nil, nil, map[string]stage{"server-1": scaledDown}, cluster),
			"server-1 is scaled to 0 (was 1) and not annotated; server-2 and server-3 were not changed; run `kubectl scale statefulset server-1 -n db --replicas=1` to bring it back as it was"},
		{"a deployment annotated", rolloutAt("--deployment my-cluster", nil, nil, all(annotated, cluster), cluster),
			"server-1, server-2 and server-3 are scaled to 0 (were 1 each) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; run `kubectl scale statefulset server-1 server-2 server-3 -n db --replicas=1` to bring them back restoring 2021-11-12T10:00:00Z, or first `kubectl annotate statefulset server-1 server-2 server-3 -n db --overwrite neo4j-backup.io/restore-` to bring them back as they were"},
		{"annotating stopped at the third", rolloutAt("--deployment my-cluster", nil, []string{"neo4j"}, map[string]stage{"server-1": annotated, "server-2": annotated, "server-3": scaledDown}, cluster),
			"server-1 and server-2 are scaled to 0 (were 1 each) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; server-3 is scaled to 0 (was 1) and not annotated; " +
				"run `neo4j-backup restore -n db --deployment my-cluster --at 2021-11-12T10:00:00Z --databases neo4j` to finish the restore, or `kubectl annotate statefulset server-1 server-2 -n db --overwrite neo4j-backup.io/restore- neo4j-backup.io/restore-databases-` and then `kubectl scale statefulset server-1 server-2 server-3 -n db --replicas=1` to bring them back as they were"},
		{"scaling back stopped at the second", rolloutAt("--deployment graph", nil, nil, map[string]stage{"core": scaledUp, "replica": annotated}, mixed),
			"core is back at 3 replicas and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, so its pods restore that backup as they start; replica is scaled to 0 (was 2) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; " +
				"run `kubectl scale statefulset replica -n db --replicas=2` to bring it back restoring 2021-11-12T10:00:00Z too; `kubectl get pods -n db` shows them"},
		{"a deployment scaled up", rolloutAt("--deployment graph", nil, nil, all(scaledUp, mixed), mixed),
			"core and replica are back at 3 and 2 replicas and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z, so their pods restore that backup as they start; `kubectl get pods -n db` shows them"},
		{"a deployment rolled back", rolloutAt("--deployment my-cluster", nil, nil, all(rolledBack, cluster), cluster, "server-1"),
			"server-1, server-2 and server-3 are back at 1 replica each, as before; run `kubectl annotate statefulset server-1 -n db --overwrite neo4j-backup.io/restore-` to put the annotations of server-1 back as they were"},
		{"rolling back stopped at the second", rolloutAt("--deployment my-cluster", nil, nil, map[string]stage{"server-1": rolledBack, "server-2": scaledDown, "server-3": scaledDown}, cluster),
			"server-2 and server-3 are scaled to 0 (were 1 each) and not annotated; server-1 is back at 1 replica, as before; run `kubectl scale statefulset server-2 server-3 -n db --replicas=1` to bring them back as they were"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.r.left(); got != c.want {
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

// A StatefulSet on a fake API with pods that never stop (no statefulset
// controller runs there) and no webhook.
func fakeCluster(t *testing.T, pods int) (*fake.Clientset, *Deployment) {
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
	d, err := LoadStatefulSet(context.Background(), kube, "db", "graph")
	if err != nil {
		t.Fatal(err)
	}
	return kube, d
}

func replicasAndAnnotations(t *testing.T, kube *fake.Clientset, name string) (int32, map[string]string) {
	t.Helper()
	sts, err := kube.AppsV1().StatefulSets("db").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *sts.Spec.Replicas, sts.Annotations
}

// Without the webhook the annotation never reaches the pod template: the
// rollout scales the StatefulSet back and says how to undo the annotation.
func TestRunWithoutTheWebhook(t *testing.T) {
	kube, d := fakeCluster(t, 0)
	_, err := d.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "annotating graph: its pod template did not get neo4j-backup.io/restore=2021-11-12T10:00:00Z: the neo4j-backup webhook that copies it there is not installed or not running; " +
		"graph is back at 3 replicas, as before; run `kubectl annotate statefulset graph -n db --overwrite neo4j-backup.io/restore-` to put its annotations back as they were"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if n, _ := replicasAndAnnotations(t, kube, "graph"); n != 3 {
		t.Errorf("graph was left at %d replicas, want 3", n)
	}
}

// Interrupted while its pods stop, the StatefulSet stays at 0, unannotated,
// and the error says how to bring it back.
func TestRunInterrupted(t *testing.T) {
	kube, d := fakeCluster(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lists := 0
	kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if lists++; lists == 2 {
			cancel() // Ctrl-C while the pod is still there
		}
		return false, nil, nil
	})
	_, err := d.Run(ctx, backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "interrupted: graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if n, annotations := replicasAndAnnotations(t, kube, "graph"); n != 0 || len(annotations) != 0 {
		t.Errorf("graph was left at %d replicas with annotations %v, want 0 and none", n, annotations)
	}
}

// A pod that does not stop within --timeout stops the rollout before the
// annotation.
func TestRunTimesOut(t *testing.T) {
	kube, d := fakeCluster(t, 1)
	_, err := d.Run(context.Background(), backupID, nil, Options{Timeout: 20 * time.Millisecond, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "waiting for the pods of graph to stop: 1 of its pods were still there after --timeout 20ms; graph is scaled to 0 (was 3) and not annotated; run `kubectl scale statefulset graph -n db --replicas=3` to bring it back as it was"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	if _, annotations := replicasAndAnnotations(t, kube, "graph"); len(annotations) != 0 {
		t.Errorf("graph was annotated %v", annotations)
	}
}

// fakeDeployment is Neo4j deployment my-cluster of StatefulSets
// server-1..3, one pod each, on a fake API that plays the webhook (it
// copies the restore annotations into the pod template) and the
// statefulset controller (scaling makes or removes the pods; a pod made
// from an annotated template has restored). refuse makes the annotation of
// a StatefulSet fail. steps records every change and how many pods there
// were when it was written.
func fakeDeployment(t *testing.T, refuse map[string]error) (*fake.Clientset, *Deployment, *[]string) {
	t.Helper()
	other := server("other", 1, nil)
	objects := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db"}}, other, podOf(other)}
	for _, name := range []string{"server-1", "server-2", "server-3"} {
		sts := server(name, 1, official)
		objects = append(objects, sts, podOf(sts))
	}
	kube := fake.NewClientset(objects...)
	gvr := appsv1.SchemeGroupVersion.WithResource("statefulsets")
	var steps []string
	kube.PrependReactor("patch", "statefulsets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		patch := action.(k8stesting.PatchActionImpl)
		if err := refuse[patch.Name]; err != nil && patch.Subresource == "" {
			return true, nil, err
		}
		obj, err := kube.Tracker().Get(gvr, "db", patch.Name)
		if err != nil {
			return true, nil, err
		}
		doc, _ := json.Marshal(obj)
		patched, err := jsonpatch.MergePatch(doc, patch.Patch)
		if err != nil {
			return true, nil, err
		}
		sts := &appsv1.StatefulSet{}
		if err := json.Unmarshal(patched, sts); err != nil {
			return true, nil, err
		}
		if patch.Subresource == "" { // the webhook
			if sts.Spec.Template.Annotations == nil {
				sts.Spec.Template.Annotations = map[string]string{}
			}
			for _, k := range annotations.CopiedToTemplate {
				if v, ok := sts.Annotations[k]; ok {
					sts.Spec.Template.Annotations[k] = v
				} else {
					delete(sts.Spec.Template.Annotations, k)
				}
			}
		}
		if err := kube.Tracker().Update(gvr, sts, "db"); err != nil {
			return true, nil, err
		}
		pods, _ := kube.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), "db")
		steps = append(steps, fmt.Sprintf("%s %s (%d pods)", what(patch), patch.Name, len(pods.(*corev1.PodList).Items)))
		if patch.Subresource == "scale" { // the statefulset controller
			podGVR := corev1.SchemeGroupVersion.WithResource("pods")
			if *sts.Spec.Replicas == 0 {
				_ = kube.Tracker().Delete(podGVR, "db", sts.Name+"-0")
			} else if err := kube.Tracker().Create(podGVR, podOf(sts), "db"); err != nil {
				return true, nil, err
			}
		}
		return true, sts, nil
	})
	d, err := LoadDeployment(context.Background(), kube, "db", "my-cluster")
	if err != nil {
		t.Fatal(err)
	}
	return kube, d, &steps
}

func what(patch k8stesting.PatchActionImpl) string {
	if patch.Subresource == "scale" {
		return "scale " + strings.TrimSuffix(strings.TrimPrefix(string(patch.Patch), `{"spec":{"replicas":`), "}}")
	}
	return "annotate"
}

// podOf is pod 0 of sts, made from its template: one that carries a
// restore has run both init containers.
func podOf(sts *appsv1.StatefulSet) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: sts.Name + "-0", Namespace: "db", Labels: sts.Spec.Template.Labels, Annotations: sts.Spec.Template.Annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID, Controller: ptr.To(true)}},
	}}
	if pod.Annotations[annotations.Restore] != "" {
		pod.Spec.InitContainers = []corev1.Container{{Name: "neo4j-backup-fetch"}, {Name: "neo4j-backup-restore"}}
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{terminated("neo4j-backup-fetch", 0, ""), terminated("neo4j-backup-restore", 0, "")}
	}
	return pod
}

// Every StatefulSet of the deployment is scaled to 0 before any is
// annotated, every one is annotated before any comes back, and the report
// names every pod; the StatefulSet of another deployment is left alone.
func TestRunDeployment(t *testing.T) {
	kube, d, steps := fakeDeployment(t, nil)
	var progress, report strings.Builder
	results, err := d.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: &progress, Report: &report})
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := []string{
		"scale 0 server-1 (4 pods)", "scale 0 server-2 (3 pods)", "scale 0 server-3 (2 pods)",
		"annotate server-1 (1 pods)", "annotate server-2 (1 pods)", "annotate server-3 (1 pods)",
		"scale 1 server-1 (1 pods)", "scale 1 server-2 (2 pods)", "scale 1 server-3 (3 pods)",
	}
	if !slices.Equal(*steps, wantSteps) {
		t.Errorf("steps (and the pods that existed after each):\n%s\nwant\n%s", strings.Join(*steps, "\n"), strings.Join(wantSteps, "\n"))
	}
	if len(results) != 3 {
		t.Errorf("%d results, want 3: %v", len(results), results)
	}
	wantReport := "server-1/server-1-0: restored 2021-11-12T10:00:00Z\nserver-2/server-2-0: restored 2021-11-12T10:00:00Z\nserver-3/server-3-0: restored 2021-11-12T10:00:00Z\n"
	if report.String() != wantReport {
		t.Errorf("report\n%s\nwant\n%s", report.String(), wantReport)
	}
	wantProgress := "scaling server-1, server-2 and server-3 from 1 replica each to 0 and waiting for their pods to stop\n" +
		"annotating server-1, server-2 and server-3 neo4j-backup.io/restore=2021-11-12T10:00:00Z\n" +
		"scaling server-1, server-2 and server-3 back to 1 replica each and waiting for their pods to restore\n" +
		"every pod of server-1, server-2 and server-3 has restored backup 2021-11-12T10:00:00Z\n"
	if progress.String() != wantProgress {
		t.Errorf("progress\n%s\nwant\n%s", progress.String(), wantProgress)
	}
	for _, name := range []string{"server-1", "server-2", "server-3"} {
		if n, a := replicasAndAnnotations(t, kube, name); n != 1 || a[annotations.Restore] != backupID {
			t.Errorf("%s was left at %d replicas, annotated %v", name, n, a)
		}
	}
	if n, a := replicasAndAnnotations(t, kube, "other"); n != 1 || len(a) != 0 {
		t.Errorf("other, of no deployment restored, is at %d replicas, annotated %v", n, a)
	}
}

// When the annotation of a StatefulSet after the first fails, those
// annotated already would restore as they start: every StatefulSet stays
// at 0 and the error says how to finish or undo, for all of them.
func TestRunDeploymentAnnotationFails(t *testing.T) {
	kube, d, _ := fakeDeployment(t, map[string]error{"server-2": errors.New("the apiserver is shutting down")})
	_, err := d.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "annotating server-2: the apiserver is shutting down; " +
		"server-1 is scaled to 0 (was 1) and annotated neo4j-backup.io/restore=2021-11-12T10:00:00Z; server-2 and server-3 are scaled to 0 (were 1 each) and not annotated; " +
		"run `neo4j-backup restore -n db --deployment my-cluster --at 2021-11-12T10:00:00Z` to finish the restore, or `kubectl annotate statefulset server-1 -n db --overwrite neo4j-backup.io/restore-` and then `kubectl scale statefulset server-1 server-2 server-3 -n db --replicas=1` to bring them back as they were"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	for _, name := range []string{"server-1", "server-2", "server-3"} {
		if n, _ := replicasAndAnnotations(t, kube, name); n != 0 {
			t.Errorf("%s was left at %d replicas, want 0", name, n)
		}
	}
}

// When the annotation of the first fails, nothing would restore: every
// StatefulSet comes back as it was.
func TestRunDeploymentFirstAnnotationFails(t *testing.T) {
	kube, d, _ := fakeDeployment(t, map[string]error{"server-1": errors.New("the apiserver is shutting down")})
	_, err := d.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "annotating server-1: the apiserver is shutting down; server-1, server-2 and server-3 are back at 1 replica each, as before"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	for _, name := range []string{"server-1", "server-2", "server-3"} {
		if n, a := replicasAndAnnotations(t, kube, name); n != 1 || len(a) != 0 {
			t.Errorf("%s was left at %d replicas, annotated %v; want 1, not annotated", name, n, a)
		}
	}
}

// A StatefulSet of no replicas restores no pod: the rollout refuses before
// anything changes.
func TestRunZeroReplicas(t *testing.T) {
	kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db"}},
		server("server-1", 1, official), server("server-2", 0, official))
	d, err := LoadDeployment(context.Background(), kube, "db", "my-cluster")
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Run(context.Background(), backupID, nil, Options{Timeout: time.Minute, Interval: time.Millisecond, Progress: io.Discard, Report: io.Discard})
	want := "server-2 has 0 replicas, so no pod of it would restore; scale it up first, or run `kubectl annotate statefulset server-2 -n db neo4j-backup.io/restore=2021-11-12T10:00:00Z` and scale it up yourself"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("it changed %v", a)
		}
	}
}
