package certs

// The Rotator against a real kube-apiserver with the webhook
// configurations from manifests/ (internal/testcluster).

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

const namespace = "neo4j-backup"

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}) }

var admin struct {
	once   sync.Once
	client client.Client
	err    error
}

// kube is an admin client of the package's cluster.
func kube(t *testing.T) client.Client {
	t.Helper()
	config := testcluster.Shared(t).Config
	admin.once.Do(func() { admin.client, admin.err = client.New(config, client.Options{}) })
	if admin.err != nil {
		t.Fatal(admin.err)
	}
	return admin.client
}

// cleanUp deletes objects when the test ends, so that tests run again
// (-count) on the same apiserver.
func cleanUp(t *testing.T, objs ...client.Object) {
	t.Cleanup(func() {
		for _, o := range objs {
			if err := kube(t).Delete(context.Background(), o); client.IgnoreNotFound(err) != nil {
				t.Errorf("cleaning up %s: %v", o.GetName(), err)
			}
		}
	})
}

func secretNamed(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
}

func newRotator(t *testing.T, secret string, log logr.Logger) *Rotator {
	t.Helper()
	cleanUp(t, secretNamed(secret))
	r, err := New(kube(t), Config{
		Log:                            log,
		Namespace:                      namespace,
		Secret:                         secret,
		Service:                        "neo4j-backup-webhook",
		ExtraNames:                     []string{"127.0.0.1"},
		MutatingWebhookConfiguration:   "neo4j-backup",
		ValidatingWebhookConfiguration: "neo4j-backup",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// caBundles are the caBundles of a configuration's webhooks and its
// resourceVersion.
func caBundles(t *testing.T, obj client.Object) ([][]byte, string) {
	t.Helper()
	if err := kube(t).Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	var bundles [][]byte
	switch c := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
	}
	return bundles, obj.GetResourceVersion()
}

func secretData(t *testing.T, name string) map[string][]byte {
	t.Helper()
	var s corev1.Secret
	if err := kube(t).Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// The caBundle goes on every webhook of our two configurations, on no
// other configuration, and only when it differs; readiness waits for it.
func TestRotatorSetsTheCABundleOfOurConfigurationsOnly(t *testing.T) {
	ctx := context.Background()
	theirs := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.example.com",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To("https://example.com/mutate"),
				CABundle: []byte("their CA"),
			},
		}},
	}
	if err := kube(t).Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	cleanUp(t, theirs)
	_, theirVersion := caBundles(t, theirs)
	ourMutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup"}}
	ourValidating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup"}}

	r := newRotator(t, "trust-tls", logr.Discard())
	if err := r.Ready(nil); err == nil {
		t.Error("ready before a certificate was issued")
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(nil); err != nil {
		t.Errorf("not ready after a sync: %v", err)
	}
	bundle := secretData(t, "trust-tls")[CAKey]
	versions := map[client.Object]string{}
	for _, ours := range []client.Object{ourMutating, ourValidating} {
		bundles, version := caBundles(t, ours)
		versions[ours] = version
		for i, b := range bundles {
			if !bytes.Equal(b, bundle) {
				t.Errorf("%T webhook %d has caBundle %.40q, want the Secret's ca.crt", ours, i, b)
			}
		}
	}
	if bundles, version := caBundles(t, theirs); version != theirVersion || string(bundles[0]) != "their CA" {
		t.Errorf("another MutatingWebhookConfiguration was changed: resourceVersion %s → %s, caBundle %.40q", theirVersion, version, bundles[0])
	}

	// A second pass finds nothing to do and writes nothing.
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for ours, before := range versions {
		if _, after := caBundles(t, ours); after != before {
			t.Errorf("%T was written although its caBundle was already right: resourceVersion %s → %s", ours, before, after)
		}
	}

	// Someone resets one webhook's caBundle: the next pass puts it back.
	reset := []byte(`[{"op":"replace","path":"/webhooks/1/clientConfig/caBundle","value":"Z2FyYmFnZQ=="}]`)
	if err := kube(t).Patch(ctx, ourValidating, client.RawPatch("application/json-patch+json", reset)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if bundles, _ := caBundles(t, ourValidating); !bytes.Equal(bundles[1], bundle) {
		t.Errorf("a reset caBundle was not put back: %.40q", bundles[1])
	}
}

// Two replicas that start together serve one certificate, and after both
// decide at once that it is due they serve one renewed certificate.
func TestRotatorReplicasServeTheSameCertificate(t *testing.T) {
	ctx := context.Background()
	// What the replicas log says which of them wrote the Secret.
	var mu sync.Mutex
	var written []string
	log := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		written = append(written, args)
	}, funcr.Options{})
	wrote := func(message string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, line := range written {
			if strings.Contains(line, `"msg"="`+message+`"`) {
				n++
			}
		}
		return n
	}
	replicas := []*Rotator{newRotator(t, "replicas-tls", log), newRotator(t, "replicas-tls", log)}
	syncAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(replicas))
		for i, r := range replicas {
			wg.Go(func() { _, errs[i] = r.Sync(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
	}
	serial := func(r *Rotator) string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}

	syncAll()
	first := serial(replicas[0])
	if other := serial(replicas[1]); other != first {
		t.Fatalf("the replicas serve certificates %s and %s, want one", first, other)
	}
	if n := wrote("issued a CA and a serving certificate"); n != 1 {
		t.Errorf("%d replicas created the Secret, want 1", n)
	}

	// Both clocks pass the renewal time.
	due := replicas[0].current.Load().renewAt.Add(time.Second)
	for _, r := range replicas {
		r.now = func() time.Time { return due }
	}
	syncAll()
	renewed := serial(replicas[0])
	if renewed == first {
		t.Fatal("the certificate was not renewed")
	}
	if other := serial(replicas[1]); other != renewed {
		t.Errorf("after the renewal the replicas serve %s and %s, want one", renewed, other)
	}
	if n := wrote("renewed the serving certificate"); n != 1 {
		t.Errorf("%d replicas renewed the certificate in the Secret, want 1", n)
	}
	if stored := verify(t, secretData(t, "replicas-tls"), replicas[0].names, due).SerialNumber.String(); stored != renewed {
		t.Errorf("the replicas serve %s, the Secret holds %s", renewed, stored)
	}
}

// Without its webhook configurations the Rotator serves a certificate but
// is not ready: the apiserver would not trust it.
func TestRotatorIsNotReadyUntilTrusted(t *testing.T) {
	cleanUp(t, secretNamed("untrusted-tls"))
	r, err := New(kube(t), Config{
		Namespace:                    namespace,
		Secret:                       "untrusted-tls",
		Service:                      "neo4j-backup-webhook",
		MutatingWebhookConfiguration: "not-installed",
		Log:                          logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Sync(context.Background())
	want := "MutatingWebhookConfiguration not-installed not found: apply manifests/default, or name yours with --webhook-config-name"
	if err == nil || err.Error() != want {
		t.Errorf("Sync = %v, want %q", err, want)
	}
	if _, err := r.GetCertificate(nil); err != nil {
		t.Errorf("no certificate served: %v", err)
	}
	if err := r.Ready(nil); err == nil || !strings.Contains(err.Error(), "not-installed not found") {
		t.Errorf("Ready = %v, want a failure naming the missing configuration", err)
	}
}

// The RBAC of manifests/base is all the Rotator needs: it creates, reads
// and renews the Secret and sets the caBundles as the server's
// ServiceAccount.
func TestRotatorNeedsNoMoreThanItsRBAC(t *testing.T) {
	ctx := context.Background()
	manifest, err := os.ReadFile(filepath.Join("..", "manifests", "base", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		var o unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
			t.Fatal(err)
		}
		if err := kube(t).Create(ctx, &o); err != nil {
			t.Fatalf("creating %s %s from manifests/base/rbac.yaml: %v", o.GetKind(), o.GetName(), err)
		}
		cleanUp(t, &o)
	}
	asServer := rest.CopyConfig(testcluster.Shared(t).Config)
	asServer.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:neo4j-backup:neo4j-backup",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:neo4j-backup", "system:authenticated"},
	}
	c, err := client.New(asServer, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cleanUp(t, secretNamed("neo4j-backup-webhook-tls"))
	r, err := New(c, Config{
		Namespace:                      namespace,
		Secret:                         "neo4j-backup-webhook-tls",
		Service:                        "neo4j-backup-webhook",
		MutatingWebhookConfiguration:   "neo4j-backup",
		ValidatingWebhookConfiguration: "neo4j-backup",
		Log:                            logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil { // creates the Secret, patches the caBundles
		t.Fatalf("as the server's ServiceAccount: %v", err)
	}
	due := r.current.Load().renewAt
	r.now = func() time.Time { return due }
	if _, err := r.Sync(ctx); err != nil { // reads and renews the Secret
		t.Fatalf("renewing as the server's ServiceAccount: %v", err)
	}
	if err := r.Ready(nil); err != nil {
		t.Error(err)
	}
	// And nothing else: not another Secret, not another configuration.
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "trust-tls"}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Errorf("reading another Secret in its namespace: %v; want it forbidden", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "someone-elses"}, &admissionregistrationv1.MutatingWebhookConfiguration{}); !apierrors.IsForbidden(err) {
		t.Errorf("reading another MutatingWebhookConfiguration: %v; want it forbidden", err)
	}
}
