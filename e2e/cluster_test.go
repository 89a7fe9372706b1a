package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// TestCluster restores the clusters of the real charts (testdata/charts,
// their objects as rendered) through the webhook, as the README says: every
// StatefulSet of the deployment at 0 replicas, annotated, scaled to 1. The
// data volumes hold a member's cluster state, which the stand-in reads as
// Neo4j would, so a restore that skips the manual's procedure fails there
// (README "Restore a cluster").
func TestCluster(t *testing.T) {
	t.Parallel()

	// 4.4: every member, cores and read replicas, unbinds before it
	// restores system and neo4j (4.4 clustering/seed.adoc). The mode is in
	// the environment (neo4j-contrib) or only in a config folder (the
	// official chart).
	for _, tt := range []struct {
		name, ns, file, version, deployment string
		members                             []member
		why                                 string // where the log must say the mode was read
		expand                              bool   // the config uses $(…): --expand-commands
		content                             string // what the backup's stores hold
	}{
		{
			name: "4.4 neo4j-contrib core and read replica", ns: "cluster-4-contrib", file: "neo4j-helm-4.4.10-causal-cluster.yaml", version: "4.4.10", deployment: "my-neo4j",
			members: []member{
				{pod: "my-neo4j-neo4j-core-0", claim: "datadir-my-neo4j-neo4j-core-0", role: "core"},
				{pod: "my-neo4j-neo4j-replica-0", claim: "datadir-my-neo4j-neo4j-replica-0", role: "read replica"},
			},
			why: "the environment (NEO4J_dbms_mode)", content: "contrib",
		},
		{
			name: "4.4 official core with its mode in a config folder", ns: "cluster-4-official", file: "neo4j-cluster-core-4.4.31.yaml", version: "4.4.31", deployment: "my-cluster",
			members: []member{{pod: "core-1-0", claim: "data-core-1-0", sub: "data", role: "core"}},
			why:     "/config/neo4j.conf/dbms.mode", expand: true, content: "official",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tt.ns, nil, notRestricted)
			w.backupDatabases(tt.version, tt.deployment, tt.content)
			sets := w.applyChart(tt.file, nil)
			for _, m := range tt.members {
				w.seedClaim(m, "core-member-id-state/x", "db/system/raft-log", "db/neo4j/raft-log")
			}
			pods := w.restoreDeployment(sets, tt.members, map[string]string{"neo4j-backup.io/restore": "latest"})
			x := ""
			if tt.expand {
				x = " --expand-commands"
			}
			for i, run := range w.runMembers(pods) {
				m, pod := tt.members[i], pods[i]
				if !run.succeeded() {
					t.Fatalf("pod %s: %s\n%s", pod.Name, run.failure(), run.log)
				}
				wantCalls(t, pod.Name, run.calls, []string{
					"neo4j-admin --version",
					"neo4j-admin unbind" + x,
					`neo4j-admin restore --from=\S+/system --database=system --force` + x,
					`neo4j-admin restore --from=\S+/neo4j --database=neo4j --force` + x,
				})
				data := w.dataOf(m)
				wantStores(t, pod.Name, data, map[string]string{"neo4j": tt.content + " neo4j", "system": tt.content + " system"})
				if _, err := os.Stat(filepath.Join(data, "cluster-state")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("pod %s: the cluster state is still there after the restore (%v)", pod.Name, err)
				}
				wantMarker(t, pod.Name, data, m.role, 3)
				line := "into this Neo4j " + tt.version + " " + m.role + " (dbms.mode="
				if i := strings.Index(run.log, line); i < 0 || !strings.HasPrefix(run.log[i+len(line):], strings.ToUpper(strings.ReplaceAll(m.role, " ", "_"))+" in "+tt.why+")") {
					t.Errorf("pod %s: the restore's log does not say %q…%q:\n%s", pod.Name, line, tt.why, run.log)
				}
			}
		})
	}

	// 5.26: three servers of one cluster, each its own StatefulSet. Every
	// database: refused when annotated, with the one line that says what
	// to do; system alone, as that line says: unbind-system-db, then system
	// restored over the old one on every server.
	t.Run("5.26 cluster of three servers", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, "cluster-5", nil, notRestricted)
		w.backupDatabases("5.26.0", "my-cluster", "restored")
		var sets []*appsv1.StatefulSet
		var members []member
		for _, server := range []string{"server-1", "server-2", "server-3"} {
			sets = append(sets, w.applyChart("neo4j-5.26.0-cluster-server-1.yaml", strings.NewReplacer("server-1", server))...)
			m := member{pod: server + "-0", claim: "data-" + server + "-0", sub: "data", role: "server"}
			w.seedClaim(m, "db/system/raft-log", "db/neo4j/raft-log")
			members = append(members, m)
		}
		// Every database: the apiserver refuses the annotation (the
		// validating webhook knows the restore container would refuse it),
		// so no member is stopped for a restore that cannot run. The
		// restore container's own refusal is podrestore's test.
		want := `a Neo4j 5.26.0 cluster server takes back only its system database offline; user databases are seeded once the cluster runs (README "Restore a cluster"): set neo4j-backup.io/restore-databases: system`
		code, _, stderr := w.restoreCommand("", "--deployment", "my-cluster", "--at", "latest")
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("neo4j-backup restore --deployment my-cluster exited %d: %s; want 1 and the denial", code, stderr)
		}
		for _, sts := range sets {
			if got := w.statefulSet(sts.Name); got.Spec.Replicas == nil || *got.Spec.Replicas != *sts.Spec.Replicas || got.Annotations["neo4j-backup.io/restore"] != "" {
				t.Errorf("after the refused restore, %s has replicas %v and restore %q; want it untouched", sts.Name, got.Spec.Replicas, got.Annotations["neo4j-backup.io/restore"])
			}
		}
		patch := []byte(`{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest"}}}`)
		_, err := w.kube.AppsV1().StatefulSets(w.ns).Patch(context.Background(), "server-1", types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("annotating server-1 with every database: %v; want it denied saying %q", err, want)
		}

		pods := w.restoreDeployment(sets, members, map[string]string{"neo4j-backup.io/restore": "latest", "neo4j-backup.io/restore-databases": "system"})
		for i, run := range w.runMembers(pods) {
			pod := pods[i]
			if !run.succeeded() {
				t.Fatalf("pod %s: %s\n%s", pod.Name, run.failure(), run.log)
			}
			wantCalls(t, pod.Name, run.calls, []string{
				"neo4j-admin --version",
				"neo4j-admin dbms unbind-system-db --expand-commands",
				`neo4j-admin database restore --from-path=\S+/system-[0-9T-]+\.backup --overwrite-destination=true system --expand-commands`,
			})
			data := w.dataOf(members[i])
			wantStores(t, pod.Name, data, map[string]string{"neo4j": "old neo4j", "system": "restored system"})
			wantClusterState(t, pod.Name, data, "db/neo4j/raft-log")
			wantMarker(t, pod.Name, data, "server", 2)
			if line := "into this Neo4j 5.26.0 server (dbms.cluster.discovery.resolver_type=K8S in /config/neo4j.conf/"; !strings.Contains(run.log, line) {
				t.Errorf("pod %s: the restore's log does not say %q:\n%s", pod.Name, line, run.log)
			}
		}
	})
}

// backupDatabases takes a backup of neo4j and system, each holding
// "<content> <database>", with the stand-in playing version, as the backup
// CronJob would, and uploads it as backup 2021-11-11T10:00:00Z of
// deployment, where its pods look for it.
func (w *world) backupDatabases(version, deployment, content string) {
	w.t.Helper()
	live := filepath.Join(w.t.TempDir(), "live")
	for _, db := range []string{"neo4j", "system"} {
		testfiles.Write(w.t, filepath.Join(live, db, "neostore"), content+" "+db)
	}
	dir := w.t.TempDir()
	calls := [][]string{{"database", "backup", "--from=server-1:6362", "--to-path=" + dir, "neo4j", "system"}}
	if strings.HasPrefix(version, "4.") {
		calls = [][]string{
			{"backup", "--from=core-0:6362", "--backup-dir=" + dir, "--database=neo4j"},
			{"backup", "--from=core-0:6362", "--backup-dir=" + dir, "--database=system"},
		}
	}
	for _, args := range calls {
		if out, err := execStandin(w.t, version, live, args...).CombinedOutput(); err != nil {
			w.t.Fatalf("stand-in %v: %v: %s", args, err, out)
		}
	}
	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/" + deployment
	if out, err := w.neo4jBackup("upload", "--from", dir, "--to", location, "--id", "2021-11-11T10:00:00Z"); err != nil {
		w.t.Fatalf("upload: %v: %s", err, out)
	}
}

// member is one pod of a deployment and where its data is: the folder of
// its claim, its data in sub of it (the official charts' subPathExpr).
type member struct {
	pod, claim, sub string
	role            string // what it restores as
}

// seedClaim makes the folder that stands for m's claim, its data holding
// the stores of neo4j and system from before the restore ("old <db>") and
// the member's cluster state (files under cluster-state).
func (w *world) seedClaim(m member, clusterState ...string) {
	w.t.Helper()
	w.runner.Claims[m.claim] = w.t.TempDir()
	data := w.dataOf(m)
	for _, db := range []string{"neo4j", "system"} {
		testfiles.Write(w.t, filepath.Join(data, "databases", db, "neostore"), "old "+db)
	}
	for _, f := range clusterState {
		testfiles.Write(w.t, filepath.Join(data, "cluster-state", f), "state of "+m.pod)
	}
}

func (w *world) dataOf(m member) string { return filepath.Join(w.runner.Claims[m.claim], m.sub) }

// applyChart creates in the world's namespace the objects of a chart
// render in testdata/charts, its text first rewritten by rename (another
// server of the same cluster), each StatefulSet at 0 replicas: the
// deployment stopped, as it is before a restore. Objects the servers of one
// cluster share (its auth Secret) are created once. It returns the
// StatefulSets.
func (w *world) applyChart(file string, rename *strings.Replacer) []*appsv1.StatefulSet {
	w.t.Helper()
	cl, err := client.New(w.cluster.Config, client.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx := context.Background()
	var sets []*appsv1.StatefulSet
	for _, obj := range readRender(w.t, filepath.Join("..", "testdata", "charts", file), rename) {
		obj.SetNamespace(w.ns)
		isSet := obj.GetKind() == "StatefulSet"
		if isSet {
			if err := unstructured.SetNestedField(obj.Object, int64(0), "spec", "replicas"); err != nil {
				w.t.Fatal(err)
			}
		}
		if err := cl.Create(ctx, obj); err != nil && (isSet || !apierrors.IsAlreadyExists(err)) {
			w.t.Fatalf("creating %s %s from %s: %v", obj.GetKind(), obj.GetName(), file, err)
		}
		if isSet {
			var sts appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &sts); err != nil {
				w.t.Fatal(err)
			}
			sets = append(sets, &sts)
		}
	}
	return sets
}

// restoreDeployment does what the README tells a person to do with a
// deployment of several StatefulSets: scale all to 0 and wait for their
// pods to go, annotate each (a value "" removes the annotation), scale each
// to 1; it returns the pods the statefulset controller makes, which must be
// the members', in their order.
func (w *world) restoreDeployment(sets []*appsv1.StatefulSet, members []member, annotate map[string]string) []corev1.Pod {
	w.t.Helper()
	ctx := context.Background()
	api := w.kube.AppsV1().StatefulSets(w.ns)
	scale := func(sts *appsv1.StatefulSet, n int) {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		if _, err := api.Patch(ctx, sts.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, sts := range sets {
		scale(sts, 0)
	}
	w.waitMembers(sets, 0)
	values := map[string]any{}
	for k, v := range annotate {
		values[k] = v
		if v == "" {
			values[k] = nil
		}
	}
	raw, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": values}})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, sts := range sets {
		if _, err := api.Patch(ctx, sts.Name, types.MergePatchType, raw, metav1.PatchOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, sts := range sets {
		scale(sts, 1)
	}
	pods := w.waitMembers(sets, len(sets))
	for i, p := range pods {
		if len(pods) != len(members) || p.Name != members[i].pod {
			w.t.Fatalf("pods %v, want those of %v", podNames(pods), members)
		}
		if got := p.Annotations["neo4j-backup.io/restore"]; got != annotate["neo4j-backup.io/restore"] {
			w.t.Fatalf("pod %s carries restore %q, want %q", p.Name, got, annotate["neo4j-backup.io/restore"])
		}
	}
	return pods
}

// waitMembers waits, for at most a minute, until the StatefulSets have n
// pods in all, none being deleted.
func (w *world) waitMembers(sets []*appsv1.StatefulSet, n int) []corev1.Pod {
	w.t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods = pods[:0]
		for _, sts := range sets {
			selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
			if err != nil {
				return false, err
			}
			list, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
			if err != nil {
				return false, nil
			}
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil {
					return false, nil
				}
				if ref := metav1.GetControllerOf(&p); ref != nil && ref.Name == sts.Name {
					pods = append(pods, p)
				}
			}
		}
		return len(pods) == n, nil
	})
	if err != nil {
		w.t.Fatalf("the StatefulSets have pods %v after a minute, want %d", podNames(pods), n)
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

// memberRun is how one pod's init containers ran.
type memberRun struct {
	results []podrunner.Result
	calls   []string // neo4j-admin's invocations, in order
	log     string   // the containers' output
}

func (r memberRun) succeeded() bool {
	return len(r.results) == 2 && r.results[0].ExitCode == 0 && r.results[1].ExitCode == 0
}

func (r memberRun) failure() string {
	if len(r.results) == 0 {
		return "no container ran"
	}
	last := r.results[len(r.results)-1]
	return fmt.Sprintf("%d init containers ran, %s exited %d: %s", len(r.results), last.Name, last.ExitCode, last.Message)
}

// runMembers runs the init containers of the pods at once, as the kubelets
// of a cluster would, each with a pod runner of its own, so that its
// neo4j-admin calls and output are its own; the runs are in the pods'
// order.
func (w *world) runMembers(pods []corev1.Pod) []memberRun {
	w.t.Helper()
	runs := make([]memberRun, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		r := *w.runner
		out := &bytes.Buffer{}
		adminLog := filepath.Join(w.t.TempDir(), "neo4j-admin.log")
		r.Log, r.StandinEnv = out, []string{"NEO4J_STANDIN_LIVE=" + w.live, "NEO4J_STANDIN_LOG=" + adminLog}
		wg.Go(func() {
			results, err := r.Run(context.Background(), pod.ObjectMeta, &pod.Spec, true)
			runs[i] = memberRun{results: results, log: out.String()}
			if err != nil {
				errs[i] = fmt.Errorf("running pod %s: %v\n%s", pod.Name, err, out.String())
			}
			if b, err := os.ReadFile(adminLog); err == nil && len(bytes.TrimSpace(b)) > 0 {
				runs[i].calls = strings.Split(strings.TrimSpace(string(b)), "\n")
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		w.t.Fatal(err)
	}
	return runs
}

// wantCalls checks neo4j-admin's calls against regular expressions, in
// order.
func wantCalls(t *testing.T, pod string, calls, want []string) {
	t.Helper()
	ok := len(calls) == len(want)
	for i := range min(len(calls), len(want)) {
		ok = ok && regexp.MustCompile("^"+want[i]+"$").MatchString(calls[i])
	}
	if !ok {
		t.Errorf("pod %s: neo4j-admin was called\n  %s\nwant calls like\n  %s", pod, strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
	}
}

// wantStores checks what each database's store in data holds.
func wantStores(t *testing.T, pod, data string, want map[string]string) {
	t.Helper()
	for db, content := range want {
		b, err := os.ReadFile(filepath.Join(data, "databases", db, "neostore"))
		if err != nil || string(b) != content {
			t.Errorf("pod %s: database %s holds %q (%v); want %q", pod, db, b, err, content)
		}
	}
}

// wantClusterState checks that the cluster state in data holds exactly
// these files.
func wantClusterState(t *testing.T, pod, data string, want ...string) {
	t.Helper()
	root := filepath.Join(data, "cluster-state")
	var got []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("pod %s: cluster state %v, want %v", pod, got, want)
	}
}

// wantMarker checks the restore marker in data: backup
// 2021-11-11T10:00:00Z restored as role in steps neo4j-admin calls.
func wantMarker(t *testing.T, pod, data, role string, steps int) {
	t.Helper()
	m, err := podrestore.ReadMarker(podrestore.MarkerIn(data))
	if err != nil || m == nil || m.BackupID != "2021-11-11T10:00:00Z" || string(m.Role) != role || len(m.Steps) != steps {
		t.Errorf("pod %s: marker %+v, %v; want backup 2021-11-11T10:00:00Z restored as %s in %d steps", pod, m, err, role, steps)
	}
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}
