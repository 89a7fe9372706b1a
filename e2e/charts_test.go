package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// TestChartRendersAreInjectedWithoutTouchingNeo4j applies every render of
// a real chart under testdata/charts twice, each into a namespace of its
// own: as it is, and with its StatefulSets annotated for a restore. The
// statefulset controller makes the pods, the apiserver defaults them, the
// webhook injects the annotated ones. Each injected pod's containers must be
// those of its twin made without the annotation, exactly; its restore
// container must see what Neo4j sees (env, envFrom, every mount); and the
// backup is staged in the pod's /plugins volume when Neo4j mounts one, else
// in a volume only the init containers mount (README "Restore a
// StatefulSet"). The pods are not run.
func TestChartRendersAreInjectedWithoutTouchingNeo4j(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "charts", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no chart renders in ../testdata/charts")
	}
	c := testcluster.Shared(t)
	c.Serve(t)
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var inPlugins, inOwnVolume atomic.Int32
	t.Run("renders", func(t *testing.T) {
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				objs := readRender(t, file, nil)
				ns := namespaceFor(name)
				plain := applyRender(t, c.Kube, cl, ns+"-plain", objs, false)
				injected := applyRender(t, c.Kube, cl, ns+"-restore", objs, true)
				for i, sts := range injected {
					twins := podsByName(waitStatefulSetPods(t, c.Kube, plain[i]))
					for _, pod := range waitStatefulSetPods(t, c.Kube, sts) {
						twin, ok := twins[pod.Name]
						if !ok {
							t.Errorf("pod %s has no twin in namespace %s", pod.Name, plain[i].Namespace)
							continue
						}
						if checkInjectedPod(t, &pod, &twin) {
							inPlugins.Add(1)
						} else {
							inOwnVolume.Add(1)
						}
					}
				}
			})
		}
	})
	// The renders hold both shapes: the neo4j-contrib chart mounts an
	// emptyDir at /plugins, the official charts mount nothing there.
	if !t.Failed() && (inPlugins.Load() == 0 || inOwnVolume.Load() == 0) {
		t.Errorf("%d pods staged in /plugins and %d in the stage volume; the renders should show both", inPlugins.Load(), inOwnVolume.Load())
	}
}

// checkInjectedPod checks pod, made from an annotated StatefulSet, against
// twin, made from the same StatefulSet without the annotation. It says
// whether the backup is staged in the pod's /plugins volume.
func checkInjectedPod(t *testing.T, pod, twin *corev1.Pod) (stagedInPlugins bool) {
	t.Helper()
	where := pod.Namespace + "/" + pod.Name
	if got := pod.Annotations[annotations.RestoreStatus]; got != "injected" {
		t.Errorf("%s: annotation %s = %q, want injected", where, annotations.RestoreStatus, got)
	}
	if slices.ContainsFunc(twin.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == podrestore.FetchContainer }) {
		t.Fatalf("%s: the pod made without the annotation was injected too, so it shows nothing", twin.Namespace+"/"+twin.Name)
	}
	if !equality.Semantic.DeepEqual(pod.Spec.Containers, twin.Spec.Containers) {
		t.Errorf("%s: the containers differ from those of the pod made without the annotation:\n%s", where, yamlDiff(twin.Spec.Containers, pod.Spec.Containers))
	}
	neo := neo4j.Container(&pod.Spec)
	if neo == nil {
		t.Fatalf("%s: no Neo4j container", where)
	}
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == podrestore.StageVolume {
				t.Errorf("%s: container %s mounts %s, which only the init containers may", where, c.Name, m.Name)
			}
		}
	}

	n := len(pod.Spec.InitContainers)
	if n < 2 || pod.Spec.InitContainers[n-2].Name != podrestore.FetchContainer || pod.Spec.InitContainers[n-1].Name != podrestore.RestoreContainer {
		t.Fatalf("%s: init containers %v, want %s then %s last", where, containerNames(pod.Spec.InitContainers), podrestore.FetchContainer, podrestore.RestoreContainer)
	}
	fetch, restore := &pod.Spec.InitContainers[n-2], &pod.Spec.InitContainers[n-1]

	data, ok := mountAtPath(neo, podrestore.DataPath)
	if !ok {
		t.Fatalf("%s: the Neo4j container mounts nothing at %s", where, podrestore.DataPath)
	}
	if m, ok := mountAtPath(restore, podrestore.DataPath); !ok || !equality.Semantic.DeepEqual(m, data) {
		t.Errorf("%s: the restore container mounts %+v at %s, want the Neo4j container's %+v", where, m, podrestore.DataPath, data)
	}
	readOnlyData := data
	readOnlyData.ReadOnly = true
	if m, ok := mountAtPath(fetch, podrestore.DataPath); !ok || !equality.Semantic.DeepEqual(m, readOnlyData) {
		t.Errorf("%s: the fetch container mounts %+v at %s, want the Neo4j container's %+v read-only", where, m, podrestore.DataPath, data)
	}
	if restore.Image != neo.Image {
		t.Errorf("%s: the restore container runs %s, want the Neo4j image %s", where, restore.Image, neo.Image)
	}
	if !equality.Semantic.DeepEqual(restore.Env, neo.Env) || !equality.Semantic.DeepEqual(restore.EnvFrom, neo.EnvFrom) {
		t.Errorf("%s: the restore container's env differs from the Neo4j container's:\n%s", where,
			yamlDiff(map[string]any{"env": neo.Env, "envFrom": neo.EnvFrom}, map[string]any{"env": restore.Env, "envFrom": restore.EnvFrom}))
	}
	for _, m := range neo.VolumeMounts {
		if !hasMount(restore.VolumeMounts, m) {
			t.Errorf("%s: the restore container lacks the Neo4j container's mount %+v", where, m)
		}
	}

	plugins, stagedInPlugins := mountAtPath(neo, podrestore.PluginsPath)
	paths := podrestore.StagePathsFor(stagedInPlugins)
	stageMount := corev1.VolumeMount{Name: podrestore.StageVolume, MountPath: podrestore.StageMountPath}
	if stagedInPlugins {
		stageMount = plugins
		stageMount.MountPath, stageMount.ReadOnly = podrestore.PluginsPath, false
		if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == podrestore.StageVolume }) {
			t.Errorf("%s: the webhook added volume %s to a pod whose Neo4j container mounts %s", where, podrestore.StageVolume, podrestore.PluginsPath)
		}
	} else {
		i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == podrestore.StageVolume })
		if i < 0 || pod.Spec.Volumes[i].EmptyDir == nil {
			t.Errorf("%s: volumes %v, want an emptyDir %s for the stage", where, pod.Spec.Volumes, podrestore.StageVolume)
		}
		if !hasMount(restore.VolumeMounts, stageMount) {
			t.Errorf("%s: the restore container mounts %v, want %+v among them", where, restore.VolumeMounts, stageMount)
		}
	}
	if m, ok := mountAtPath(fetch, stageMount.MountPath); !ok || !equality.Semantic.DeepEqual(m, stageMount) {
		t.Errorf("%s: the fetch container mounts %+v at %s, want %+v", where, m, stageMount.MountPath, stageMount)
	}
	if got := argAfter(fetch.Args, "--to"); got != paths.Dir {
		t.Errorf("%s: fetch --to %s, want %s", where, got, paths.Dir)
	}
	if got := argAfter(fetch.Args, "--install-self"); got != paths.Binary {
		t.Errorf("%s: fetch --install-self %s, want %s", where, got, paths.Binary)
	}
	if !slices.Equal(restore.Command, []string{paths.Binary}) || argAfter(restore.Args, "--staged") != paths.Dir {
		t.Errorf("%s: the restore container runs %v %v, want %s with --staged %s", where, restore.Command, restore.Args, paths.Binary, paths.Dir)
	}
	if want, got := string(neo4j.RoleFromLabels(pod.Labels)), argAfter(restore.Args, "--role"); got != want {
		t.Errorf("%s: restore-staged --role %q, want %q, the role the pod's labels give", where, got, want)
	}
	return stagedInPlugins
}

// readRender reads the objects of a multi-document YAML file, with rename
// (if any) applied to its text first.
func readRender(t *testing.T, file string, rename *strings.Replacer) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if rename != nil {
		raw = []byte(rename.Replace(string(raw)))
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs
}

var notInName = regexp.MustCompile(`[^a-z0-9-]+`)

// namespaceFor names the namespaces of a render's case: its file name as a
// DNS label, with room for a suffix.
func namespaceFor(name string) string {
	ns := "chart-" + strings.Trim(notInName.ReplaceAllString(strings.ToLower(name), "-"), "-")
	return strings.TrimRight(ns[:min(len(ns), 50)], "-")
}

// applyRender creates namespace ns and the render's objects in it, each
// StatefulSet with at least one replica and, with restore, the restore
// annotation (the Namespace then names a destination). It returns the
// StatefulSets as the apiserver stored them, in the render's order.
func applyRender(t *testing.T, kube kubernetes.Interface, cl client.Client, ns string, objs []*unstructured.Unstructured, restore bool) []*appsv1.StatefulSet {
	t.Helper()
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if restore {
		nsObj.Annotations = map[string]string{annotations.Destination: "s3://bucket/neo4j"}
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var sets []*appsv1.StatefulSet
	for _, orig := range objs {
		obj := orig.DeepCopy()
		namespaced, err := cl.IsObjectNamespaced(obj)
		if err != nil {
			t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		if namespaced {
			obj.SetNamespace(ns)
		}
		if obj.GetKind() == "StatefulSet" {
			if replicas, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas"); !found || replicas < 1 {
				if err := unstructured.SetNestedField(obj.Object, int64(1), "spec", "replicas"); err != nil {
					t.Fatal(err)
				}
			}
			if restore {
				ann := obj.GetAnnotations()
				if ann == nil {
					ann = map[string]string{}
				}
				ann[annotations.Restore] = "latest"
				// What every version line and role can restore offline,
				// 5.x cluster servers included (README "Restore a cluster").
				ann[annotations.RestoreDatabases] = "system"
				obj.SetAnnotations(ann)
			}
		}
		// A cluster-scoped object is shared by the namespaces of all cases.
		if err := cl.Create(ctx, obj); err != nil && !(apierrors.IsAlreadyExists(err) && !namespaced) {
			t.Fatalf("creating %s %s in %s: %v", obj.GetKind(), obj.GetName(), ns, err)
		}
		if obj.GetKind() == "StatefulSet" {
			var sts appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &sts); err != nil {
				t.Fatal(err)
			}
			sets = append(sets, &sts)
		}
	}
	if len(sets) == 0 {
		t.Fatal("the render holds no StatefulSet")
	}
	return sets
}

// waitStatefulSetPods waits, for at most a minute, until the statefulset
// controller has made the pods of sts it makes while none is ready: every
// replica with Parallel pod management, the first one with OrderedReady.
func waitStatefulSetPods(t *testing.T, kube kubernetes.Interface, sts *appsv1.StatefulSet) []corev1.Pod {
	t.Helper()
	want := 1
	if sts.Spec.PodManagementPolicy == appsv1.ParallelPodManagement {
		want = int(*sts.Spec.Replicas)
	}
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Pods(sts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.Name == sts.Name {
				pods = append(pods, p)
			}
		}
		return len(pods) == want, nil
	})
	if err != nil {
		t.Fatalf("StatefulSet %s/%s has %d pods after a minute, want %d; its events: %s", sts.Namespace, sts.Name, len(pods), want, warnings(kube, sts))
	}
	return pods
}

// warnings are the Warning events of an object, for a failure message:
// why the statefulset controller could not make a pod.
func warnings(kube kubernetes.Interface, sts *appsv1.StatefulSet) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := kube.CoreV1().Events(sts.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + sts.Name + ",type=Warning"})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func podsByName(pods []corev1.Pod) map[string]corev1.Pod {
	out := map[string]corev1.Pod{}
	for _, p := range pods {
		out[p.Name] = p
	}
	return out
}

func mountAtPath(c *corev1.Container, mountPath string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == mountPath {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func hasMount(mounts []corev1.VolumeMount, m corev1.VolumeMount) bool {
	return slices.ContainsFunc(mounts, func(have corev1.VolumeMount) bool { return equality.Semantic.DeepEqual(have, m) })
}

func argAfter(args []string, flag string) string {
	for i := range len(args) - 1 {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// yamlDiff is a unified diff of want and got as YAML.
func yamlDiff(want, got any) string {
	a, _ := yaml.Marshal(want)
	b, _ := yaml.Marshal(got)
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(a)), B: difflib.SplitLines(string(b)),
		FromFile: "without the annotation", ToFile: "injected", Context: 3,
	})
	return fmt.Sprint(diff)
}
