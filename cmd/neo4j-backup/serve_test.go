package main

// Integration tests of `neo4j-backup serve`, built and run as a process of
// its own, on a real control plane (internal/testcluster): the apiserver
// calls the webhook over TLS with the configurations from manifests/, and
// kube-controller-manager's statefulset controller creates the pods.

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

const injectedImage = "registry.example/neo4j-backup:test"

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{Serve: []string{"--image", injectedImage, "--default-destination", "s3://cluster-backups/neo4j"}})
}

// startCluster returns the package's cluster with its serve running on the
// address the webhook configurations call.
func startCluster(t *testing.T) (*testcluster.Cluster, *testcluster.Serve) {
	t.Helper()
	c := testcluster.Shared(t)
	return c, c.Serve(t)
}

// newNamespace creates a namespace that enforces the restricted Pod
// Security Standard, with annotations.
func newNamespace(t *testing.T, kube *kubernetes.Clientset, name string, annotations map[string]string) {
	t.Helper()
	_, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: annotations,
		Labels:      map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// neo4jPodSpec is a Neo4j 5 pod that meets the restricted standard itself.
func neo4jPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](7474),
			FSGroup:        ptr.To[int64](7474),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "neo4j",
			Image: "neo4j:5.26.0-enterprise",
			Env:   []corev1.EnvVar{{Name: "NEO4J_ACCEPT_LICENSE_AGREEMENT", Value: "yes"}},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

// podRequests is how many admission requests the pod webhook has handled.
func podRequests(t *testing.T, serve *testcluster.Serve) float64 {
	t.Helper()
	return serve.Metric(t, "neo4j_backup_admission_requests_total", map[string]string{"webhook": "pod"})
}

func TestServeInjectsAnnotatedPod(t *testing.T) {
	c, _ := startCluster(t)
	kube := c.Kube
	ctx := context.Background()
	newNamespace(t, kube, "inject", map[string]string{
		annotations.Destination:       "s3://prod-backups/neo4j",
		annotations.Endpoint:          "minio.storage.svc:9000",
		annotations.CredentialsSecret: "s3-creds",
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "graph-0",
			Annotations: map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: "graph", UID: "6f1c7e0e-53a2-4b8e-a3f1-2d5d0c7d9b11", Controller: ptr.To(true),
			}},
		},
		Spec: neo4jPodSpec(),
	}
	// The namespace enforces the restricted standard: creating the pod at
	// all proves the injected containers meet it.
	got, err := kube.CoreV1().Pods("inject").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating an annotated pod in a restricted namespace: %v", err)
	}
	if got.Annotations[annotations.RestoreStatus] != "injected" {
		t.Errorf("annotation %s = %q, want injected", annotations.RestoreStatus, got.Annotations[annotations.RestoreStatus])
	}
	if len(got.Spec.InitContainers) != 2 || got.Spec.InitContainers[0].Name != podrestore.FetchContainer || got.Spec.InitContainers[1].Name != podrestore.RestoreContainer {
		t.Fatalf("init containers = %v, want %s then %s", names(got.Spec.InitContainers), podrestore.FetchContainer, podrestore.RestoreContainer)
	}
	fetch, restore := got.Spec.InitContainers[0], got.Spec.InitContainers[1]
	if fetch.Image != injectedImage {
		t.Errorf("fetch image = %s, want %s", fetch.Image, injectedImage)
	}
	wantArgs := "fetch --from s3://prod-backups/neo4j/inject/graph --at 2021-11-11T10:00:00Z --to /neo4j-backup/stage --skip-if-restored /data/.neo4j-backup/restored --install-self /neo4j-backup/stage/bin/neo4j-backup --endpoint minio.storage.svc:9000"
	if args := strings.Join(fetch.Args, " "); args != wantArgs {
		t.Errorf("fetch args:\n got %s\nwant %s", args, wantArgs)
	}
	for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if e := envNamed(fetch.Env, key); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "s3-creds" {
			t.Errorf("fetch env %s = %+v, want a secretKeyRef to s3-creds", key, e)
		}
	}
	if m := mountNamed(fetch.VolumeMounts, "/data"); m == nil || m.Name != "data" || !m.ReadOnly {
		t.Errorf("fetch mounts /data as %+v, want the data volume read-only", m)
	}
	stage := podrestore.StagePathsFor(false)
	if m := mountNamed(fetch.VolumeMounts, stage.MountPath); m == nil || m.Name != podrestore.StageVolume || m.ReadOnly {
		t.Errorf("fetch mounts %s as %+v, want the added %s volume, writable", stage.MountPath, m, podrestore.StageVolume)
	}
	if restore.Image != "neo4j:5.26.0-enterprise" || len(restore.Command) != 1 || restore.Command[0] != stage.Binary {
		t.Errorf("restore runs %v in %s, want %s in the pod's Neo4j image", restore.Command, restore.Image, stage.Binary)
	}
	if envNamed(restore.Env, "NEO4J_ACCEPT_LICENSE_AGREEMENT") == nil {
		t.Errorf("restore env %v lacks the Neo4j container's env", restore.Env)
	}
	if m := mountNamed(restore.VolumeMounts, "/data"); m == nil || m.ReadOnly {
		t.Errorf("restore mounts /data as %+v, want it writable", m)
	}
	// The Neo4j container is never changed: a volume at /plugins would
	// become Neo4j's plugins directory and hide the image's plugins.
	for _, m := range got.Spec.Containers[0].VolumeMounts {
		if m.MountPath == "/plugins" || m.Name == podrestore.StageVolume {
			t.Errorf("the Neo4j container mounts %s at %s; it must be left as its template made it", m.Name, m.MountPath)
		}
	}
}

func TestServeLeavesOtherPodsAlone(t *testing.T) {
	c, serve := startCluster(t)
	kube := c.Kube
	newNamespace(t, kube, "plain", map[string]string{annotations.Destination: "s3://prod-backups/neo4j"})
	before := podRequests(t, serve)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "neo4j-0", Annotations: map[string]string{"example.com/other": "x"}}, Spec: neo4jPodSpec()}
	got, err := kube.CoreV1().Pods("plain").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.InitContainers) != 0 || len(got.Spec.Volumes) != 1 || got.Annotations[annotations.RestoreStatus] != "" {
		t.Errorf("a pod without %s was changed: init containers %v, volumes %d", annotations.Restore, names(got.Spec.InitContainers), len(got.Spec.Volumes))
	}
	if after := podRequests(t, serve); after != before {
		t.Errorf("the pod webhook handled %v requests for a pod without %s; the matchCondition should keep it from being called", after-before, annotations.Restore)
	}
}

func TestServeCopiesStatefulSetAnnotationIntoPods(t *testing.T) {
	c, _ := startCluster(t)
	kube := c.Kube
	ctx := context.Background()
	newNamespace(t, kube, "cluster", map[string]string{annotations.Destination: "s3://prod-backups/neo4j"})
	labels := map[string]string{"app": "graph"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "graph"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](0),
			ServiceName:         "graph",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: neo4jPodSpec()},
		},
	}
	if _, err := kube.AppsV1().StatefulSets("cluster").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What `kubectl annotate statefulset graph neo4j-backup.io/restore=latest`
	// and `kubectl scale --replicas=2` do: a merge patch of the metadata
	// only, then the scale.
	sts = annotate(t, kube, "cluster", "graph", `{"metadata":{"annotations":{"neo4j-backup.io/restore":"latest"}}}`)
	if got := sts.Spec.Template.Annotations[annotations.Restore]; got != "latest" {
		t.Fatalf("pod template annotation %s = %q after annotating the StatefulSet, want latest", annotations.Restore, got)
	}
	_, err := kube.AppsV1().StatefulSets("cluster").Patch(ctx, "graph", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	var pods *corev1.PodList
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err = kube.CoreV1().Pods("cluster").List(ctx, metav1.ListOptions{LabelSelector: "app=graph"})
		return err == nil && len(pods.Items) == 2, nil
	})
	if err != nil {
		t.Fatalf("the statefulset controller made %d pods in a minute, want 2; controller manager log:\n%s", len(pods.Items), c.ControllerManagerLog(20))
	}
	for _, p := range pods.Items {
		if len(p.Spec.InitContainers) != 2 || p.Spec.InitContainers[0].Name != podrestore.FetchContainer {
			t.Errorf("pod %s has init containers %v, want the restore containers", p.Name, names(p.Spec.InitContainers))
		}
		if from := argAfter(p.Spec.InitContainers[0].Args, "--from"); from != "s3://prod-backups/neo4j/cluster/graph" {
			t.Errorf("pod %s restores from %s, want s3://prod-backups/neo4j/cluster/graph", p.Name, from)
		}
	}

	// Removing the annotation from the StatefulSet removes it from the
	// template, so pods made later restore nothing.
	sts = annotate(t, kube, "cluster", "graph", `{"metadata":{"annotations":{"neo4j-backup.io/restore":null}}}`)
	if got, ok := sts.Spec.Template.Annotations[annotations.Restore]; ok {
		t.Errorf("pod template still has %s=%q after it was removed from the StatefulSet", annotations.Restore, got)
	}
}

func TestServeDeniesBadAnnotations(t *testing.T) {
	c, _ := startCluster(t)
	kube := c.Kube
	ctx := context.Background()
	newNamespace(t, kube, "denials", nil)

	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "typo", Annotations: map[string]string{"neo4j-backup.io/schedul": "0 3 * * *"},
	}}, metav1.CreateOptions{})
	wantDenied(t, err, "unknown annotation neo4j-backup.io/schedul; did you mean neo4j-backup.io/schedule?")

	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "leaky", Annotations: map[string]string{annotations.Endpoint: "https://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI@s3.example.com"},
	}}, metav1.CreateOptions{})
	wantDenied(t, err, "looks like it holds a credential")

	labels := map[string]string{"app": "bad"}
	_, err = kube.AppsV1().StatefulSets("denials").Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Annotations: map[string]string{annotations.Restore: "yesterday"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: neo4jPodSpec()},
		},
	}, metav1.CreateOptions{})
	wantDenied(t, err, `neo4j-backup.io/restore: "yesterday" is not "latest", a backup ID, a time such as 2021-11-11T10:00:00Z`)

	ns, err := kube.CoreV1().Namespaces().Get(ctx, "denials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Annotations = map[string]string{annotations.Schedule: "every night"}
	_, err = kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
	wantDenied(t, err, `neo4j-backup.io/schedule: "every night" is not a cron schedule`)
}

// annotate merge-patches a StatefulSet, as kubectl annotate does.
func annotate(t *testing.T, kube *kubernetes.Clientset, ns, name, patch string) *appsv1.StatefulSet {
	t.Helper()
	sts, err := kube.AppsV1().StatefulSets(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patching StatefulSet %s with %s: %v", name, patch, err)
	}
	return sts
}

func wantDenied(t *testing.T, err error, message string) {
	t.Helper()
	if err == nil {
		t.Errorf("the apiserver accepted it; want a denial saying %q", message)
		return
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) && !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("error %v is no admission denial", err)
	}
	if !strings.Contains(err.Error(), message) {
		t.Errorf("denial %q does not say %q", err.Error(), message)
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func envNamed(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

func mountNamed(mounts []corev1.VolumeMount, path string) *corev1.VolumeMount {
	for i := range mounts {
		if mounts[i].MountPath == path {
			return &mounts[i]
		}
	}
	return nil
}

func argAfter(args []string, flag string) string {
	for i := range args[:len(args)-1] {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

// TestServeLearnsItsOwnImage: in a pod, serve injects the image it runs
// from, read from its own pod, so a kustomize `images:` change cannot leave
// an old image behind; outside a pod without --image it is a usage error.
func TestServeLearnsItsOwnImage(t *testing.T) {
	c, _ := startCluster(t)
	kube := c.Kube
	newNamespace(t, kube, "self", nil)
	spec := neo4jPodSpec()
	spec.Containers[0].Name, spec.Containers[0].Image = "neo4j-backup", "registry.example/neo4j-backup:v9"
	if _, err := kube.CoreV1().Pods("self").Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "server-0"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAME", "server-0")
	t.Setenv("POD_NAMESPACE", "self")
	if got, err := ownImage(c.Config); err != nil || got != "registry.example/neo4j-backup:v9" {
		t.Errorf("ownImage = %q, %v; want the pod's neo4j-backup container image", got, err)
	}
	t.Setenv("POD_NAME", "")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--kubeconfig", c.Kubeconfig}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--image is required outside a pod") {
		t.Errorf("serve without --image outside a pod: exit %d, %q; want 2 and a usage error", code, stderr.String())
	}
}

// stormShutdownDelay is the --shutdown-delay of TestServeDrainStorm's
// replicas, twice the 1-1.5s HAProxy takes to see /readyz fail;
// -storm-shutdown-delay=0s shows the storm without the drain.
var stormShutdownDelay = flag.Duration("storm-shutdown-delay", 3*time.Second, "--shutdown-delay of TestServeDrainStorm's replicas")

// TestServeDrainStorm: two replicas behind a load balancer that takes a
// replica out when its /readyz fails, as a Service does, lose no admission
// while each in turn gets SIGTERM and is started again: pods created at a
// steady rate all succeed, and every one has the init containers. The
// apiserver keeps its HTTP/2 connection to one replica until that replica
// closes it, so the replica being stopped serves right up to then.
func TestServeDrainStorm(t *testing.T) {
	c := testcluster.Start(t) // HAProxy takes the address the webhook configurations call
	type replica struct {
		name      string
		args      []string
		instances []*testcluster.Serve // the first, then each started again
	}
	var replicas []*replica
	var backends []testcluster.HAProxyBackend
	for _, name := range []string{"a", "b"} {
		webhook, err := controlplane.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		probe, err := controlplane.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(webhook)
		replicas = append(replicas, &replica{name: name, args: []string{
			"--image", injectedImage, "--webhook-port", port, "--health-probe-bind-address", probe,
			"--shutdown-delay", stormShutdownDelay.String(),
		}})
		backends = append(backends, testcluster.HAProxyBackend{Name: name, Addr: webhook, Readyz: probe})
	}
	proxy := testcluster.StartHAProxy(t, c.WebhookAddr, backends)
	for _, r := range replicas {
		r.instances = append(r.instances, c.StartServe(t, r.args...))
	}
	for _, r := range replicas {
		proxy.WaitStatus(t, r.name, "UP", 30*time.Second)
	}

	newNamespace(t, c.Kube, "storm", map[string]string{annotations.Destination: "s3://prod-backups/neo4j"})
	config := rest.CopyConfig(c.Config)
	config.QPS, config.Burst = -1, 0 // the rate is the test's, not client-go's
	kube := kubernetes.NewForConfigOrDie(config)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "graph-",
			Annotations:  map[string]string{annotations.Restore: "2021-11-11T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: "graph", UID: "6f1c7e0e-53a2-4b8e-a3f1-2d5d0c7d9b11", Controller: ptr.To(true),
			}},
		},
		Spec: neo4jPodSpec(),
	}

	t0 := time.Now() // of the times in the log
	// One create every 20ms, each on its own so that a slow one does not
	// slow the rate, until the storm is over; at most 2000 (40s).
	const maxCreates = 2000
	var (
		mu       sync.Mutex
		created  int
		failures []string
		creates  sync.WaitGroup
	)
	stormOver := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < maxCreates; i++ {
			select {
			case <-stormOver:
				return
			case <-tick.C:
			}
			creates.Add(1)
			go func() {
				defer creates.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				got, err := kube.CoreV1().Pods("storm").Create(ctx, pod.DeepCopy(), metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("at %s: %v", time.Since(t0).Round(time.Millisecond), err))
				case len(got.Spec.InitContainers) != 2:
					failures = append(failures, fmt.Sprintf("pod %s was created with init containers %v", got.Name, names(got.Spec.InitContainers)))
				default:
					created++
				}
			}()
		}
	}()
	// Also when the test stops early: no create outlives it.
	stopLoad := sync.OnceFunc(func() {
		close(stormOver)
		<-loadDone
		creates.Wait()
	})
	defer stopLoad()

	// Three times the replica that holds the apiserver's connection, the one
	// whose SIGTERM can lose an admission: without the drain, it closes its
	// port before the balancer has taken it out, and the apiserver's next
	// connection goes to it half the time. The connection then moves on, so
	// each replica is stopped in turn.
	type stop struct {
		serve *testcluster.Serve
		held  bool // it held a connection when it got SIGTERM
	}
	var stops []stop
	for i := range 3 {
		servers := proxy.Servers(t)
		r := replicas[i%2]
		for _, other := range replicas {
			if servers[other.name].Current > servers[r.name].Current {
				r = other
			}
		}
		serve := r.instances[len(r.instances)-1]
		stops = append(stops, stop{serve: serve, held: servers[r.name].Current > 0})
		began := time.Since(t0)
		if err := serve.Stop(); err != nil {
			t.Errorf("replica %s: %v", r.name, err)
		}
		stopped := time.Since(t0)
		proxy.WaitStatus(t, r.name, "DOWN", 10*time.Second)
		r.instances = append(r.instances, c.StartServe(t, r.args...))
		proxy.WaitStatus(t, r.name, "UP", 30*time.Second)
		t.Logf("stop %d: replica %s got SIGTERM at %s, exited at %s, was up again at %s", i+1, r.name, began.Round(time.Millisecond), stopped.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
	// The connection is back on a replica started again before the load ends.
	mu.Lock()
	before := created
	mu.Unlock()
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return created >= before+25, nil
	}); err != nil {
		t.Errorf("no 25 pods were created within 10s after the storm (%v)", err)
	}
	stopLoad()

	t.Logf("--shutdown-delay=%s: %d pods created, %d creates failed", *stormShutdownDelay, created, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d pod creates failed while the replicas were restarted:\n%s", len(failures), created+len(failures), strings.Join(failures[:min(len(failures), 10)], "\n"))
	}
	pods, err := c.Kube.CoreV1().Pods("storm").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if len(p.Spec.InitContainers) != 2 || p.Spec.InitContainers[0].Name != podrestore.FetchContainer {
			t.Errorf("pod %s has init containers %v, want %s and %s", p.Name, names(p.Spec.InitContainers), podrestore.FetchContainer, podrestore.RestoreContainer)
		}
	}
	if len(pods.Items) != created {
		t.Errorf("the namespace has %d pods, but %d creates succeeded", len(pods.Items), created)
	}
	// A replica that held the apiserver's connection answered on it while
	// its /readyz failed, until it closed the connection.
	for i, st := range stops {
		log := st.serve.LogTail(1 << 20)
		answered := 0
		if at := strings.Index(log, "/readyz fails now"); at >= 0 {
			answered = strings.Count(log[at:], "injected restore")
		}
		t.Logf("stop %d: held a connection %v, answered %d admission requests after SIGTERM", i+1, st.held, answered)
		if st.held && *stormShutdownDelay > 0 && answered == 0 {
			t.Errorf("stop %d: the replica held the apiserver's connection but answered nothing during its --shutdown-delay", i+1)
		}
	}
}

// TestServeDrainSecondSignal: on SIGTERM serve fails /readyz but keeps its
// webhook port open for --shutdown-delay; a second SIGTERM stops it at once.
func TestServeDrainSecondSignal(t *testing.T) {
	c := testcluster.Shared(t)
	webhook, err := controlplane.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(webhook)
	serve := c.StartServe(t, "--image", injectedImage, "--webhook-port", port, "--shutdown-delay", "10m")
	if err := serve.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readyz := "http://" + serve.ProbeAddr() + "/readyz"
	var status int
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		status = httpStatus(ctx, readyz)
		return status == http.StatusInternalServerError, nil
	}); err != nil {
		t.Fatalf("%s answers %d, not 500, after SIGTERM (%v)", readyz, status, err)
	}
	if got := httpStatus(context.Background(), "http://"+serve.ProbeAddr()+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz answers %d while serve drains, want 200: the liveness probe must not kill it", got)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", webhook, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Errorf("the webhook port is closed during --shutdown-delay: %v", err)
	} else {
		conn.Close()
	}
	if err := serve.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(10 * time.Second); err == nil || !strings.Contains(serve.LogTail(20), "neo4j-backup serve: stopped at a second signal without draining") {
		t.Errorf("serve after a second SIGTERM: %v; want exit status 1 and a line saying so, got:\n%s", err, serve.LogTail(20))
	}
}

// httpStatus is the status url answers with, 0 when it does not answer.
func httpStatus(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Timings that do not fit are refused before anything starts.
func TestServeShutdownFlags(t *testing.T) {
	for _, args := range [][]string{{"--shutdown-delay=-1s"}, {"--drain-timeout=0s"}} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve", "--image", injectedImage}, args...), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--shutdown-delay must not be negative and --drain-timeout must be positive") {
			t.Errorf("serve %v: exit %d, %q; want 2 and a usage error", args, code, stderr.String())
		}
	}
}
