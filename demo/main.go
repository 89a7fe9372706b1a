// Command demo walks a newcomer through what neo4j-backup does, on this
// machine, with nothing installed but Go: a real kube-apiserver, etcd and
// kube-controller-manager, a real S3 server (versitygw), and
// `neo4j-backup serve` against them. A scheduled backup runs, is listed,
// and is restored into a new pod through the webhook. No Neo4j Enterprise
// and no kubelet run here: the pod runner starts the pods' containers as
// local processes, and a stand-in neo4j-admin plays Neo4j (it says so).
//
//	make demo          (go run ./demo)
//
// It cleans up everything it started when it ends or on Ctrl-C.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
	"github.com/neo4j-backup/neo4j-backup/hack/toolcache"
)

const (
	image     = "neo4j-backup:demo"
	accessKey = "demo-access-key"
	secretKey = "demo-secret-key-not-for-production"
	bucket    = "neo4j-backups"
	ns        = "graph" // from manifests/examples
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

// run runs the demo from the repository's root and cleans up after it.
func run(ctx context.Context) error {
	if err := chdirToRoot(); err != nil {
		return err
	}
	d := &demo{}
	defer d.cleanup()
	return d.run(ctx)
}

// chdirToRoot makes the repository root the working folder, wherever the
// demo was started from.
func chdirToRoot() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "demo", "main.go")); err == nil {
			return os.Chdir(dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("run the demo from the neo4j-backup repository (make demo)")
		}
		dir = parent
	}
}

type demo struct {
	dir      string
	cp       *controlplane.ControlPlane
	kube     *kubernetes.Clientset
	procs    []*exec.Cmd
	endpoint string
	runner   *podrunner.Runner
	live     string
	adminLog string
}

func step(n int, title string) { fmt.Printf("\n── %d. %s\n", n, title) }
func say(format string, a ...any) {
	fmt.Println("   " + strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", "\n   "))
}

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "neo4j-backup-demo-"); err != nil {
		return err
	}

	step(1, "Build the binaries and the real servers (cached in ~/.cache/neo4j-backup after the first run)")
	if err := d.build(ctx); err != nil {
		return err
	}

	step(2, "Start kube-apiserver, etcd and kube-controller-manager (statefulset, cronjob, job controllers)")
	d.cp, err = controlplane.Start(controlplane.Options{
		Controllers: []string{"statefulset", "cronjob", "job"},
		Webhooks:    []string{filepath.Join("manifests", "base", "webhooks.yaml")},
	})
	if err != nil {
		return err
	}
	d.kube = kubernetes.NewForConfigOrDie(d.cp.Config)
	say("API server at %s. The webhook configurations of manifests/base/webhooks.yaml are installed as they\nship, with the Service reference swapped for the local server's address (no Service can route here).", d.cp.Config.Host)

	step(3, "Start an S3 server (versitygw) on 127.0.0.1")
	if err := d.startS3(ctx); err != nil {
		return err
	}
	say("S3 endpoint %s, bucket %s", d.endpoint, bucket)

	step(4, "Start neo4j-backup serve (the webhook and the backup reconciler) with certificates it makes itself")
	if err := d.startServe(ctx); err != nil {
		return err
	}

	step(5, "Apply manifests/examples: an annotated namespace and a Neo4j 5 StatefulSet")
	if err := d.createShop(ctx); err != nil {
		return err
	}
	cj, err := d.waitCronJob(ctx)
	if err != nil {
		return err
	}
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	say("The reconciler stamped out CronJob %s/%s (schedule %q, concurrencyPolicy %s):", ns, cj.Name, cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	for _, c := range spec.InitContainers {
		// backup-plan (this image, args) decides full or differential first on 5.x; neo4j-admin-backup runs a script
		say("  init container %s (%s): %s", c.Name, c.Image, strings.Join(append(c.Command[min(len(c.Command), 2):], c.Args...), " "))
	}
	say("  container %s (%s): neo4j-backup %s", spec.Containers[0].Name, spec.Containers[0].Image, strings.Join(spec.Containers[0].Args, " "))

	step(6, "Wait for the cronjob controller to start a backup Job (within a minute), and run its pod")
	say("(No kubelet here: the pod runner runs the pod's containers as local processes. The Neo4j side is\n played by a STAND-IN neo4j-admin that writes backup files in Neo4j's layout; no Neo4j runs.)")
	pod, err := d.waitJobPod(ctx)
	if err != nil {
		return err
	}
	if err := d.runPod(ctx, pod, false); err != nil {
		return err
	}

	step(7, "List the backups: neo4j-backup list")
	location := "s3://" + bucket + "/prod/" + ns + "/graph" // the example namespace's destination
	out, err := d.cli(ctx, "list", "--from", location)
	if err != nil {
		return err
	}
	say("%s", strings.TrimSpace(out))

	step(8, "Restore: scale the StatefulSet to 0, annotate it with neo4j-backup.io/restore=latest, scale back")
	writeFile(filepath.Join(d.live, "neo4j", "neostore"), "written after the backup: the restore replaces this")
	restored, err := d.restore(ctx, "latest")
	if err != nil {
		return err
	}
	say("The webhook injected pod %s (annotation neo4j-backup.io/restore-status=%s):", restored.Name, restored.Annotations["neo4j-backup.io/restore-status"])
	for _, c := range restored.Spec.InitContainers {
		cmd := append(append([]string(nil), c.Command...), c.Args...)
		say("  init container %s (%s):\n    %s", c.Name, c.Image, strings.Join(cmd, " "))
	}

	step(9, "Run the restore pod's init containers: fetch and verify from S3, then neo4j-admin restore")
	os.Remove(d.adminLog)
	if err := d.runPod(ctx, restored, true); err != nil {
		return err
	}
	calls, _ := os.ReadFile(d.adminLog)
	say("The stand-in neo4j-admin was called with:\n%s", strings.TrimSpace(string(calls)))
	marker, _ := os.ReadFile(filepath.Join(d.runner.Claims["data-graph-0"], ".neo4j-backup", "restored"))
	say("Marker /data/.neo4j-backup/restored:\n%s", strings.TrimSpace(string(marker)))

	step(10, "Start the same pod again: the marker says it is done, nothing is fetched or restored")
	os.Remove(d.adminLog)
	if err := d.runPod(ctx, restored, true); err != nil {
		return err
	}
	if calls, _ := os.ReadFile(d.adminLog); len(calls) > 0 {
		return fmt.Errorf("a restart ran neo4j-admin again: %s", calls)
	}
	say("neo4j-admin was not called.")

	fmt.Println("\nDone. Everything the demo started is being stopped.")
	return nil
}

func (d *demo) build(ctx context.Context) error {
	bin := filepath.Join(d.dir, "bin")
	for pkg, name := range map[string]string{"./cmd/neo4j-backup": "neo4j-backup", "./e2e/neo4j-admin-standin": "neo4j-admin"} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v: %s", pkg, err, out)
		}
	}
	assets, err := controlplane.Assets()
	if err != nil {
		return err
	}
	say("neo4j-backup and the stand-in neo4j-admin built; control plane in %s", assets)
	d.live, d.adminLog = filepath.Join(d.dir, "live"), filepath.Join(d.dir, "neo4j-admin.log")
	for _, db := range []string{"neo4j", "system"} {
		writeFile(filepath.Join(d.live, db, "neostore"), "the live store of database "+db)
	}
	d.runner = &podrunner.Runner{
		Image: image, Binary: filepath.Join(bin, "neo4j-backup"), StandinDir: bin,
		StandinEnv: []string{"NEO4J_STANDIN_LIVE=" + d.live, "NEO4J_STANDIN_LOG=" + d.adminLog},
		Claims:     map[string]string{"data-graph-0": filepath.Join(d.dir, "data-graph-0")},
		Log:        &indented{},
	}
	return os.MkdirAll(d.runner.Claims["data-graph-0"], 0o755)
}

func (d *demo) startS3(ctx context.Context) error {
	dir, err := toolcache.Dir(ctx, "versitygw")
	if err != nil {
		return err
	}
	addr, err := controlplane.FreeAddr()
	if err != nil {
		return err
	}
	data := filepath.Join(d.dir, "s3")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(dir, "versitygw"), "--port", addr, "--health", "/health", "posix", data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+accessKey, "ROOT_SECRET_ACCESS_KEY="+secretKey)
	if err := d.start(cmd); err != nil {
		return err
	}
	d.endpoint = "http://" + addr
	if err := controlplane.WaitOK(ctx, d.endpoint+"/health"); err != nil {
		return fmt.Errorf("versitygw did not come up: %v", err)
	}
	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1"})
	if err != nil {
		return err
	}
	return client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"})
}

func (d *demo) startServe(ctx context.Context) error {
	for _, f := range []string{"manifests/base/namespace.yaml", "manifests/base/rbac.yaml"} {
		if err := d.kubectl(ctx, "apply", "-f", f); err != nil {
			return err
		}
	}
	probe, err := controlplane.FreeAddr()
	if err != nil {
		return err
	}
	args := []string{"serve",
		"--kubeconfig", d.cp.Kubeconfig,
		"--image", image,
		"--webhook-host", d.cp.Webhook.LocalServingHost,
		"--webhook-port", fmt.Sprint(d.cp.Webhook.LocalServingPort),
		"--cert-mode", "self", "--namespace", "neo4j-backup", "--extra-san", d.cp.Webhook.LocalServingHost,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", probe,
	}
	cmd := exec.Command(d.runner.Binary, args...)
	log, err := os.Create(filepath.Join(d.dir, "serve.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := d.start(cmd); err != nil {
		return err
	}
	if err := controlplane.WaitOK(ctx, "http://"+probe+"/readyz"); err != nil {
		return fmt.Errorf("serve did not become ready: %v; its log is %s", err, log.Name())
	}
	say("neo4j-backup %s\nready (log: %s)", strings.Join(args, " "), log.Name())
	secret, err := d.kube.CoreV1().Secrets("neo4j-backup").Get(ctx, "neo4j-backup-webhook-tls", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("serve made no certificate Secret: %v", err)
	}
	say("It made its own CA and serving certificate (Secret neo4j-backup/%s, %d bytes of CA) and set the caBundle\nof its webhook configurations; the apiserver now calls it over TLS it trusts.", secret.Name, len(secret.Data["ca.crt"]))
	return nil
}

func (d *demo) createShop(ctx context.Context) error {
	if err := d.kubectl(ctx, "apply", "-f", "manifests/examples/namespace.yaml", "-f", "manifests/examples/neo4j-5.yaml"); err != nil {
		return err
	}
	say("Here the store is the local S3 server and the schedule is every minute:")
	if err := d.kubectl(ctx, "annotate", "namespace", ns, "--overwrite",
		"neo4j-backup.io/schedule=* * * * *",
		"neo4j-backup.io/endpoint="+d.endpoint,
		"neo4j-backup.io/region=us-east-1"); err != nil {
		return err
	}
	_, err := d.kube.CoreV1().Secrets(ns).Update(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup-s3", Namespace: ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey},
	}, metav1.UpdateOptions{})
	return err
}

// kubectl runs kubectl against the demo's apiserver and shows it.
func (d *demo) kubectl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", d.cp.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = a
		if strings.Contains(a, " ") {
			shown[i] = "'" + a + "'"
		}
	}
	say("$ kubectl %s\n%s", strings.Join(shown, " "), strings.TrimSpace(string(out)))
	return nil
}

func (d *demo) waitCronJob(ctx context.Context) (*batchv1.CronJob, error) {
	var cj *batchv1.CronJob
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		cj, err = d.kube.BatchV1().CronJobs(ns).Get(ctx, "neo4j-backup-graph", metav1.GetOptions{}) // neo4j-backup-<deployment>
		return err == nil && cj.Spec.Schedule == "* * * * *", nil
	})
	if err != nil {
		return nil, fmt.Errorf("no CronJob within a minute: %v", err)
	}
	return cj, nil
}

func (d *demo) waitJobPod(ctx context.Context) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 150*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := d.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no backup Job pod within 150 s: %v", err)
	}
	say("Job pod %s created by the job controller", pod.Name)
	return pod, nil
}

func (d *demo) runPod(ctx context.Context, pod *corev1.Pod, initOnly bool) error {
	d.runner.Kube = d.kube
	results, err := d.runner.Run(ctx, pod.ObjectMeta, &pod.Spec, initOnly)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.ExitCode != 0 {
			return fmt.Errorf("container %s exited %d: %s", r.Name, r.ExitCode, r.Message)
		}
	}
	return nil
}

// restore does what the README tells a person to do, with kubectl.
func (d *demo) restore(ctx context.Context, at string) (*corev1.Pod, error) {
	if err := d.kubectl(ctx, "-n", ns, "scale", "statefulset", "graph", "--replicas=0"); err != nil {
		return nil, err
	}
	if err := d.waitPods(ctx, 0); err != nil {
		return nil, err
	}
	if err := d.kubectl(ctx, "-n", ns, "annotate", "statefulset", "graph", "--overwrite", "neo4j-backup.io/restore="+at); err != nil {
		return nil, err
	}
	if err := d.kubectl(ctx, "-n", ns, "scale", "statefulset", "graph", "--replicas=1"); err != nil {
		return nil, err
	}
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := d.kube.CoreV1().Pods(ns).Get(ctx, "graph-0", metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			return false, nil
		}
		pod = p
		return true, nil
	})
	return pod, err
}

func (d *demo) waitPods(ctx context.Context, n int) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := d.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=neo4j"})
		return err == nil && len(pods.Items) == n, nil
	})
}

func (d *demo) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.runner.Binary, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3="+d.endpoint)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("neo4j-backup %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (d *demo) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	d.procs = append(d.procs, cmd)
	return nil
}

// cleanup stops what was started, newest first, then removes the files.
func (d *demo) cleanup() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
		}
	}
	if d.cp != nil {
		_ = d.cp.Stop()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

func writeFile(path, content string) {
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	_ = os.WriteFile(path, []byte(content), 0o644)
}

// indented prints the containers' output indented under the step.
type indented struct{ buf bytes.Buffer }

func (w *indented) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			fmt.Print("     │ " + line)
		}
	}
	return len(p), nil
}
