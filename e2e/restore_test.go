package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestRestoreThroughTheWebhook restores a StatefulSet the way the README
// says: scale to 0, annotate, scale back. The statefulset controller creates
// the pod, the webhook injects it, the pod runner runs its init containers:
// the stand-in neo4j-admin must receive the restore of the right backup, and
// the data volume must hold it afterwards.
func TestRestoreThroughTheWebhook(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, image string
		env         []corev1.EnvVar
		backup      func(dir string) []string // the stand-in's backup command
		restoreCall string                    // what the restore of neo4j must look like (a glob)
		unbind      bool
	}{
		{
			name: "neo4j-4", image: "neo4j:4.2.8-enterprise",
			env: []corev1.EnvVar{{Name: "NEO4J_dbms_mode", Value: "CORE"}},
			backup: func(dir string) []string {
				return []string{"backup", "--from=core-0:6362", "--backup-dir=" + dir, "--database=neo4j"}
			},
			restoreCall: "neo4j-admin restore --from=/neo4j-backup/stage/*/neo4j --database=neo4j --force",
			unbind:      true,
		},
		{
			name: "neo4j-5", image: "neo4j:5.26.0-enterprise",
			backup: func(dir string) []string {
				return []string{"database", "backup", "--from=core-0:6362", "--to-path=" + dir, "neo4j"}
			},
			restoreCall: "neo4j-admin database restore --from-path=/neo4j-backup/stage/*/neo4j-*.backup --overwrite-destination=true neo4j",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, "restore-"+tt.name, nil)
			version := strings.TrimSuffix(strings.TrimPrefix(tt.image, "neo4j:"), "-enterprise")
			location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/graph"
			w.backup(version, tt.backup, location, "2021-11-11T10:00:00Z", "first")
			w.backup(version, tt.backup, location, "2021-11-12T10:00:00Z", "second")
			data := t.TempDir()
			w.runner.Claims["data-graph-0"] = data
			w.createStatefulSet(tt.image, tt.env)

			// latest: the second backup is restored, through the webhook.
			pod := w.restore("latest")
			w.runPod(pod, true, "")
			calls := w.adminCalls()
			if !matchesAny(calls, tt.restoreCall) {
				t.Errorf("neo4j-admin was called\n%s\nwant a call like %s", strings.Join(calls, "\n"), tt.restoreCall)
			}
			if tt.unbind != matchesAny(calls, "neo4j-admin unbind*") {
				t.Errorf("unbind called: %v, want %v (4.x cluster core only); calls:\n%s", !tt.unbind, tt.unbind, strings.Join(calls, "\n"))
			}
			wantStore(t, data, "second neo4j")
			marker, err := os.ReadFile(filepath.Join(data, ".neo4j-backup", "restored"))
			if err != nil || !strings.Contains(string(marker), `"backupId": "2021-11-12T10:00:00Z"`) {
				t.Errorf("marker after the restore: %s, %v", marker, err)
			}

			// The same pod started again: nothing is fetched or restored.
			w.podLog.Reset()
			w.runPod(pod, true, "")
			if calls := w.adminCalls(); len(calls) > 0 {
				t.Errorf("a restart ran neo4j-admin again:\n%s", strings.Join(calls, "\n"))
			}
			if !strings.Contains(w.podLog.String(), "nothing to fetch") {
				t.Errorf("the fetch container of a restart did not say it had nothing to fetch")
			}

			// A time between the two backups: the older one is restored.
			pod = w.restore("2021-11-11T12:00:00Z")
			w.runPod(pod, true, "")
			wantStore(t, data, "first neo4j")
			w.adminCalls()

			// A time before every backup: the fetch container fails with one
			// line, the restore container never runs, the data stays.
			pod = w.restore("2020-01-01T00:00:00Z")
			w.runPod(pod, true, "no complete backup at or before 2020-01-01T00:00:00Z")
			wantStore(t, data, "first neo4j")

			// A corrupted backup: the same, and the message names the file.
			w.corrupt(location, "2021-11-12T10:00:00Z")
			pod = w.restore("2021-11-12T10:00:00Z")
			w.runPod(pod, true, "checksum")
			wantStore(t, data, "first neo4j")
			if calls := w.adminCalls(); len(calls) > 0 {
				t.Errorf("neo4j-admin ran although the fetch failed:\n%s", strings.Join(calls, "\n"))
			}
		})
	}
}

// backup takes a backup of the live server with the stand-in, as the
// CronJob's init container does, and uploads it with the CLI as backup id.
func (w *world) backup(version string, command func(string) []string, location, id, content string) {
	w.t.Helper()
	w.setLive(content, "neo4j")
	dir := w.t.TempDir()
	cmd := execStandin(w.t, version, w.live, command(dir)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("stand-in backup: %v: %s", err, out)
	}
	if out, err := w.neo4jBackup("upload", "--from", dir, "--to", location, "--id", id); err != nil {
		w.t.Fatalf("upload: %v: %s", err, out)
	}
}

// createStatefulSet makes StatefulSet graph with 0 replicas, a data claim
// template and a Neo4j container that meets the restricted standard.
func (w *world) createStatefulSet(image string, env []corev1.EnvVar) {
	w.t.Helper()
	w.createServer("graph", image, env, nil)
}

// createServer makes StatefulSet name like createStatefulSet, its pods and
// itself carrying the labels given besides app=name.
func (w *world) createServer(name, image string, env []corev1.EnvVar, extraLabels map[string]string) {
	w.t.Helper()
	selector := map[string]string{"app": name}
	labels := map[string]string{"app": name}
	for k, v := range extraLabels {
		labels[k] = v
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](0), ServiceName: name, PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](7474), FSGroup: ptr.To[int64](7474),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name: "neo4j", Image: image, Env: env,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	if _, err := w.kube.AppsV1().StatefulSets(w.ns).Create(context.Background(), sts, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

// restore does what the README tells a person to: scale graph to 0, wait
// for its pod to go, annotate it, scale it to 1, and returns the pod the
// statefulset controller creates.
func (w *world) restore(at string) *corev1.Pod {
	w.t.Helper()
	ctx := context.Background()
	sts := w.kube.AppsV1().StatefulSets(w.ns)
	w.scale(0)
	w.waitPods(0)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"neo4j-backup.io/restore":%q}}}`, at)
	if _, err := sts.Patch(ctx, "graph", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.scale(1)
	pods := w.waitPods(1)
	if got := pods[0].Annotations["neo4j-backup.io/restore"]; got != at {
		w.t.Fatalf("pod %s carries restore %q, want %q", pods[0].Name, got, at)
	}
	return &pods[0]
}

// scale sets graph's replicas with a merge patch of its scale, as kubectl
// scale does, so the statefulset controller's own writes never conflict.
func (w *world) scale(n int32) {
	w.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := w.kube.AppsV1().StatefulSets(w.ns).Patch(context.Background(), "graph", types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
		w.t.Fatal(err)
	}
}

// waitPods waits until graph has exactly n pods, none being deleted.
func (w *world) waitPods(n int) []corev1.Pod {
	w.t.Helper()
	return w.waitPodsOf("app=graph", n)
}

// runPod runs the pod's init containers. With wantFailure empty all must
// succeed; else the fetch container must fail with a one-line message
// containing it, and the restore container must not run.
func (w *world) runPod(pod *corev1.Pod, initOnly bool, wantFailure string) {
	w.t.Helper()
	results, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, initOnly)
	if err != nil {
		w.t.Fatalf("running pod %s: %v", pod.Name, err)
	}
	if wantFailure == "" {
		for _, r := range results {
			if r.ExitCode != 0 {
				w.t.Fatalf("container %s exited %d: %s", r.Name, r.ExitCode, r.Message)
			}
		}
		if len(results) != len(pod.Spec.InitContainers) {
			w.t.Fatalf("ran %d of %d init containers", len(results), len(pod.Spec.InitContainers))
		}
		return
	}
	last := results[len(results)-1]
	if len(results) != 1 || last.Name != "neo4j-backup-fetch" || last.ExitCode == 0 {
		w.t.Fatalf("results %+v; want the fetch container alone, failed", results)
	}
	if !strings.Contains(last.Message, wantFailure) || strings.Contains(last.Message, "\n") {
		w.t.Errorf("fetch failed with %q; want one line saying %q", last.Message, wantFailure)
	}
}

// corrupt overwrites one file of backup id with other bytes.
func (w *world) corrupt(location, id string) {
	w.t.Helper()
	prefix := strings.TrimPrefix(location, "s3://"+w.s3.Bucket+"/") + "/" + id + "/"
	ctx := context.Background()
	for obj := range w.s3.Client().ListObjects(ctx, w.s3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			w.t.Fatal(obj.Err)
		}
		if strings.HasSuffix(obj.Key, "manifest.json") {
			continue
		}
		junk := bytes.Repeat([]byte("x"), int(obj.Size))
		if _, err := w.s3.Client().PutObject(ctx, w.s3.Bucket, obj.Key, bytes.NewReader(junk), int64(len(junk)), minio.PutObjectOptions{}); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	w.t.Fatalf("no file under %s to corrupt", prefix)
}

func wantStore(t *testing.T, data, content string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "databases", "neo4j", "neostore"))
	if err != nil || string(b) != content {
		t.Errorf("the data volume holds %q (%v); want %q", b, err, content)
	}
}

func matchesAny(lines []string, pattern string) bool {
	for _, l := range lines {
		if ok, _ := filepath.Match(pattern, l); ok {
			return true
		}
	}
	return false
}
