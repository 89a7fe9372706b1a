// Package e2e runs the whole round trip on real servers: kube-apiserver,
// etcd and kube-controller-manager (statefulset, cronjob, job controllers),
// `neo4j-backup serve` as a process with the webhook configurations from
// manifests/ (all three from internal/testcluster), a real S3 server, and
// the pod runner playing the kubelet with the stand-in neo4j-admin playing
// Neo4j.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/neo4j-backup/neo4j-backup/e2e/podrunner"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// image is what serve injects; the pod runner runs it as the built binary.
const image = "neo4j-backup:e2e"

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{Serve: []string{"--image", image}})
}

// world is one test's namespace, S3 bucket and "Neo4j server".
type world struct {
	t       *testing.T
	cluster *testcluster.Cluster
	kube    *kubernetes.Clientset
	ns      string
	s3      *s3test.Server
	// live is the running Neo4j the stand-in backs up: a folder per database.
	live string
	// adminLog is every neo4j-admin invocation, one line each.
	adminLog string
	runner   *podrunner.Runner
	podLog   bytes.Buffer
}

// worldOption changes the world newWorld makes.
type worldOption func(labels map[string]string)

// notRestricted leaves the namespace without the restricted Pod Security
// label, for charts whose pods do not meet it (the neo4j-contrib chart runs
// as root; the official charts set no seccomp profile).
func notRestricted(labels map[string]string) { delete(labels, "pod-security.kubernetes.io/enforce") }

// newWorld makes a namespace whose annotations point at a fresh bucket on
// the S3 server the tests share, with the credentials Secret the
// annotations name, on the cluster the tests share with serve running.
func newWorld(t *testing.T, ns string, annotations map[string]string, opts ...worldOption) *world {
	c := testcluster.Shared(t)
	c.Serve(t)
	kube := c.Kube
	w := &world{t: t, cluster: c, kube: kube, ns: ns, s3: s3test.SharedVersitygw(t)}
	dir := t.TempDir()
	w.live, w.adminLog = filepath.Join(dir, "live"), filepath.Join(dir, "neo4j-admin.log")
	all := map[string]string{
		"neo4j-backup.io/destination":        "s3://" + w.s3.Bucket + "/neo4j",
		"neo4j-backup.io/endpoint":           w.s3.Endpoint,
		"neo4j-backup.io/region":             s3test.Region,
		"neo4j-backup.io/credentials-secret": "s3-creds",
	}
	for k, v := range annotations {
		all[k] = v
	}
	labels := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	for _, o := range opts {
		o(labels)
	}
	ctx := context.Background()
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Annotations: all, Labels: labels,
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3-creds"},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.runner = &podrunner.Runner{
		Kube: kube, Image: image, Binary: testcluster.Binary(t), StandinDir: testcluster.Standin(t),
		StandinEnv: []string{"NEO4J_STANDIN_LIVE=" + w.live, "NEO4J_STANDIN_LOG=" + w.adminLog},
		Claims:     map[string]string{},
		Log:        &w.podLog,
		Timeout:    time.Minute,
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_SHOW_PODS") != "" {
			t.Logf("containers run:\n%s", w.podLog.String())
		}
	})
	return w
}

// setLive makes the running Neo4j hold these databases, each with one file.
func (w *world) setLive(content string, databases ...string) {
	w.t.Helper()
	os.RemoveAll(w.live)
	for _, db := range databases {
		testfiles.Write(w.t, filepath.Join(w.live, db, "neostore"), content+" "+db)
	}
}

// adminCalls returns the neo4j-admin invocations so far and forgets them.
func (w *world) adminCalls() []string {
	b, _ := os.ReadFile(w.adminLog)
	os.Remove(w.adminLog)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// neo4jBackup runs the built binary with the S3 server's credentials.
func (w *world) neo4jBackup(args ...string) (string, error) {
	cmd := exec.Command(testcluster.Binary(w.t), args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey,
		"AWS_REGION="+s3test.Region, "AWS_ENDPOINT_URL_S3="+w.s3.Endpoint)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// execStandin prepares the stand-in neo4j-admin playing version, backing up
// the live server in folder live.
func execStandin(t *testing.T, version, live string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(testcluster.Standin(t), "neo4j-admin"), args...)
	cmd.Env = append(os.Environ(), "NEO4J_STANDIN_VERSION="+version, "NEO4J_STANDIN_LIVE="+live)
	return cmd
}

// listedBackup is one backup as `list -o json` prints it.
type listedBackup struct {
	ID        string   `json:"id"`
	Status    string   `json:"status"`
	Databases []string `json:"databases"`
	Warnings  []string `json:"warnings"`
}

// list is what `neo4j-backup list -o json` says is in location.
func (w *world) list(location string) []listedBackup {
	w.t.Helper()
	out, err := w.neo4jBackup("list", "--from", location, "-o", "json")
	if err != nil {
		w.t.Fatalf("list: %v: %s", err, out)
	}
	var listed []listedBackup
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		w.t.Fatalf("list -o json printed %q: %v", out, err)
	}
	return listed
}
