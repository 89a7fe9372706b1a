package main

// `serve` with each certificate mode, as a process of its own against a real
// kube-apiserver that calls it, and manifests/ applied to that apiserver. The
// test takes a cluster of its own: it replaces the trust of the webhook
// configurations every other test's serve relies on, and deletes them.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/certs"
	"github.com/neo4j-backup/neo4j-backup/controlplane"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

// servingValidity is short, so that the test sees a renewal.
const servingValidity = 12 * time.Second

func TestServeCertificates(t *testing.T) {
	c := testcluster.Start(t) // stopped after the serve processes, which stop first
	kube := c.Kube
	ctx := context.Background()
	// envtest installed the configurations trusting its own CA; serve must
	// put its own there.
	untrust(t, kube)

	// serve listens where the webhook configurations call.
	webhookAddr := c.WebhookAddr
	serve := c.StartServe(t,
		"--image", injectedImage,
		"--cert-mode=self",
		"--namespace=neo4j-backup",
		"--extra-san=127.0.0.1",
		"--cert-validity="+servingValidity.String(),
	)

	t.Run("a self-managed certificate is trusted, renewed and served without a restart", func(t *testing.T) {
		roots := trustedBy(t, kube)
		first := servedCertificate(t, webhookAddr, roots)
		newNamespace(t, kube, "renewal", map[string]string{annotations.Destination: "s3://backups/neo4j"})
		createInjectedPod(t, kube, "renewal", "graph-0")

		renewal := renewAtTwoThirds(first)
		var served *x509.Certificate
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Until(first.NotAfter)+15*time.Second, true, func(context.Context) (bool, error) {
			served = servedCertificate(t, webhookAddr, roots)
			return served.SerialNumber.Cmp(first.SerialNumber) != 0, nil
		})
		if err != nil {
			t.Fatalf("still serving certificate %s at %s, which was due for renewal at %s; serve log:\n%s",
				first.SerialNumber, time.Now().Format(time.StampMilli), renewal.Format(time.StampMilli), serve.LogTail(15))
		}
		if !served.NotAfter.After(first.NotAfter) {
			t.Errorf("the renewed certificate expires at %s, not after the first at %s", served.NotAfter, first.NotAfter)
		}
		// Certificate times have whole seconds.
		if renewed := served.NotAfter.Add(-servingValidity); renewed.Before(renewal.Add(-time.Second)) {
			t.Errorf("the certificate was renewed at %s, before two thirds of its life at %s", renewed, renewal)
		}
		createInjectedPod(t, kube, "renewal", "graph-1")
		stillRunning(t, serve)

		secret, err := kube.CoreV1().Secrets("neo4j-backup").Get(ctx, "neo4j-backup-webhook-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if stored := parseCert(t, secret.Data[certs.CertKey]); stored.SerialNumber.Cmp(served.SerialNumber) != 0 {
			t.Errorf("serving %s, the Secret holds %s", served.SerialNumber, stored.SerialNumber)
		}
	})

	t.Run("files in --cert-dir are served and reloaded without a restart", func(t *testing.T) {
		dir := t.TempDir()
		writePair(t, dir, "first")
		addr, err := controlplane.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(addr)
		files := c.StartServe(t, "--image", injectedImage, "--cert-mode=files", "--cert-dir", dir, "--webhook-host", host, "--webhook-port", port)
		if got := servedCertificate(t, addr, nil).Subject.CommonName; got != "first" {
			t.Fatalf("serving %q, want the pair in --cert-dir", got)
		}
		writePair(t, dir, "second")
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return servedCertificate(t, addr, nil).Subject.CommonName == "second", nil
		})
		if err != nil {
			t.Fatalf("still serving the first pair 30s after the files changed; serve log:\n%s", files.LogTail(15))
		}
		stillRunning(t, files)
	})

	t.Run("the examples apply to the apiserver", func(t *testing.T) {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "graph"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The namespace's annotations go through serve's validating webhook.
		kubectl(t, c.Kubeconfig, "apply", "-f", filepath.Join("..", "..", "manifests", "examples"), "--dry-run=server")
	})

	t.Run("the default install applies to the apiserver", func(t *testing.T) {
		// envtest installed the webhook configurations pointing at a URL;
		// applying ours on top would set a Service too, which is invalid.
		// The namespace stays: a dry run cannot create it for the
		// namespaced objects after it.
		if err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "neo4j-backup", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		out := kubectl(t, c.Kubeconfig, "apply", "-k", filepath.Join("..", "..", "manifests", "default"), "--dry-run=server")
		for _, want := range []string{"deployment.apps/neo4j-backup", "role.rbac.authorization.k8s.io/neo4j-backup-certs", "mutatingwebhookconfiguration.admissionregistration.k8s.io/neo4j-backup"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl apply did not apply %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "would violate PodSecurity") {
			t.Errorf("the Deployment does not meet its namespace's restricted Pod Security Standard:\n%s", out)
		}
	})

	t.Run("the cert-manager overlay leaves certificates to cert-manager", func(t *testing.T) {
		out := kubectl(t, c.Kubeconfig, "kustomize", filepath.Join("..", "..", "manifests", "cert-manager"))
		objects := map[string]map[string]any{}
		for _, doc := range strings.Split(out, "\n---\n") {
			var o map[string]any
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatal(err)
			}
			meta := o["metadata"].(map[string]any)
			objects[o["kind"].(string)+"/"+meta["name"].(string)] = o
		}
		for _, gone := range []string{"Role/neo4j-backup-certs", "RoleBinding/neo4j-backup-certs", "ClusterRole/neo4j-backup-certs", "ClusterRoleBinding/neo4j-backup-certs"} {
			if objects[gone] != nil {
				t.Errorf("%s is still there: the server needs no certificate RBAC with cert-manager", gone)
			}
		}
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			if got := lookup(objects[kind+"/neo4j-backup"], "metadata", "annotations", "cert-manager.io/inject-ca-from"); got != "neo4j-backup/neo4j-backup-webhook" {
				t.Errorf("%s has inject-ca-from %v, want the serving Certificate neo4j-backup/neo4j-backup-webhook", kind, got)
			}
		}
		if got := lookup(objects["Certificate/neo4j-backup-webhook"], "spec", "secretName"); got != "neo4j-backup-webhook-tls" {
			t.Errorf("the serving Certificate writes Secret %v, want neo4j-backup-webhook-tls", got)
		}
		deployment, _ := yaml.Marshal(objects["Deployment/neo4j-backup"])
		for _, want := range []string{"- --cert-mode=files", "- --cert-dir=/tmp/k8s-webhook-server/serving-certs", "secretName: neo4j-backup-webhook-tls", "mountPath: /tmp/k8s-webhook-server/serving-certs"} {
			if !bytes.Contains(deployment, []byte(want)) {
				t.Errorf("the Deployment lacks %q:\n%s", want, deployment)
			}
		}
		if bytes.Contains(deployment, []byte("--cert-mode=self")) {
			t.Errorf("the Deployment still has --cert-mode=self:\n%s", deployment)
		}
	})
}

// untrust puts a caBundle that trusts nothing on every webhook of our
// configurations.
func untrust(t *testing.T, kube *kubernetes.Clientset) {
	t.Helper()
	ctx := context.Background()
	garbage := []byte("-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n")
	m, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "neo4j-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = garbage
	}
	if _, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "neo4j-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = garbage
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// trustedBy checks that every webhook of our configurations has the same
// caBundle, the Secret's ca.crt, and returns it as a pool.
func trustedBy(t *testing.T, kube *kubernetes.Clientset) *x509.CertPool {
	t.Helper()
	ctx := context.Background()
	secret, err := kube.CoreV1().Secrets("neo4j-backup").Get(ctx, "neo4j-backup-webhook-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("serve is ready but made no Secret: %v", err)
	}
	bundle := secret.Data[certs.CAKey]
	m, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "neo4j-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "neo4j-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var found [][]byte
	for _, w := range m.Webhooks {
		found = append(found, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		found = append(found, w.ClientConfig.CABundle)
	}
	for i, b := range found {
		if !bytes.Equal(b, bundle) {
			t.Errorf("serve is ready but webhook %d of 4 has caBundle %.60q, not the Secret's %s", i, b, certs.CAKey)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatalf("the Secret's %s holds no certificate", certs.CAKey)
	}
	return roots
}

// servedCertificate dials the webhook server and returns the certificate it
// serves, verified against roots for 127.0.0.1 as the apiserver does, or
// unverified when roots is nil.
func servedCertificate(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", InsecureSkipVerify: roots == nil}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dialling the webhook server at %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func renewAtTwoThirds(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// createInjectedPod creates a pod of an annotated Neo4j StatefulSet and
// checks that the apiserver had the webhook inject it.
func createInjectedPod(t *testing.T, kube *kubernetes.Clientset, namespace, name string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annotations.Restore: "latest"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: "graph", UID: "0b6d1c4e-7f0a-4c59-9d7e-3f3c2a1b5e77", Controller: ptr.To(true),
			}},
		},
		Spec: neo4jPodSpec(),
	}
	got, err := kube.CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	if got.Annotations[annotations.RestoreStatus] != "injected" || len(got.Spec.InitContainers) != 2 {
		t.Errorf("pod %s was not injected: %s=%q, init containers %v", name, annotations.RestoreStatus, got.Annotations[annotations.RestoreStatus], names(got.Spec.InitContainers))
	}
}

// stillRunning fails the test if serve has exited: it must keep serving
// across a certificate change.
func stillRunning(t *testing.T, serve *testcluster.Serve) {
	t.Helper()
	if err := serve.Exited(); err != nil {
		t.Fatalf("serve exited (%v); it must keep serving across a certificate change; log:\n%s", err, serve.LogTail(15))
	}
}

// writePair writes a self-signed pair for 127.0.0.1 into dir.
func writePair(t *testing.T, dir, commonName string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: commonName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first: until the certificate follows, the pair does not match and
	// the old one stays served.
	for _, f := range []struct {
		name string
		pem  *pem.Block
	}{{"tls.key", &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}}, {"tls.crt", &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(f.pem), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// Beside kube-apiserver, where envtest's asset bundles keep it.
		assets, _ := controlplane.Assets()
		kubectl = filepath.Join(assets, "kubectl")
		if _, err := os.Stat(kubectl); err != nil {
			t.Fatalf("kubectl is neither on PATH nor in %s; install it (the manifests are checked with it)", assets)
		}
	}
	out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lookup walks nested maps of a decoded YAML object.
func lookup(o map[string]any, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestServeCertFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cert-mode=cert-manager"}, "--cert-mode=cert-manager: want files (read --cert-dir) or self (make and renew the certificate)"},
		{[]string{"--cert-mode=self", "--cert-validity=0s"}, "--cert-validity and --ca-validity must be positive"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve", "--image", injectedImage}, tc.args...), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %s: exit %d, %q; want exit 2 saying %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want)
		}
	}
}
