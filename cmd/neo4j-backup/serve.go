package main

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/webhook"
)

func init() {
	commands["serve"] = command{summary: "run the admission webhook and the backup reconciler (in the cluster)", run: runServe}
}

// serveOptions are serve's flags; they are part of the contract.
type serveOptions struct {
	kubeconfig         string
	webhookHost        string
	webhookPort        int
	certDir            string
	image              string
	defaultDestination string
	metricsAddr        string
	probeAddr          string
	leaderElect        bool
	drainTimeout       time.Duration
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o serveOptions
	fs := newFlags("serve", stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; in a pod the service account is used")
	fs.StringVar(&o.webhookHost, "webhook-host", "", "address the webhook server listens on (all when empty)")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the webhook server (HTTPS)")
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder holding tls.crt and tls.key; a renewed pair is served without a restart")
	fs.StringVar(&o.image, "image", "", "this image, as injected into Neo4j pods and backup CronJobs (required)")
	fs.StringVar(&o.defaultDestination, "default-destination", "", "s3://bucket/prefix for namespaces that set no "+webhook.Destination)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect one replica to run the reconciler (the webhook runs on every replica)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long in-flight admission requests may take to finish")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.image == "" {
		return usagef("--image is required: the image of this binary, to inject into Neo4j pods")
	}
	if o.defaultDestination != "" {
		if _, err := webhook.ParseS3URL(o.defaultDestination); err != nil {
			return usagef("--default-destination: %v", err)
		}
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(stderr)))
	mgr, err := newManager(o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// newManager wires the webhook server, the backup reconciler and their cache
// into a manager.
func newManager(o serveOptions) (ctrl.Manager, error) {
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = o.kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes API to talk to: %v; pass --kubeconfig or run in a pod", err)
	}
	// No client-side rate limit, as controller-runtime's own config loader
	// does: the API server's priority and fairness limits us, and client-go's
	// default 5 requests a second would stretch a thousand backup namespaces
	// to minutes.
	if restConfig.QPS == 0 {
		restConfig.QPS = -1
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	drain := o.drainTimeout
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "neo4j-backup",
		GracefulShutdownTimeout: &drain,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host:    o.webhookHost,
			Port:    o.webhookPort,
			CertDir: o.certDir,
		}),
		// Secrets are never cached: the server only passes their names on.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		// The reconciler's CronJobs (by label) and StatefulSets (trimmed).
		Cache: cache.Options{ByObject: backup.CacheByObject()},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	// The pod webhook reads Namespace annotations. Registering the informer
	// now starts it with the manager instead of on the first admission; it
	// is metadata-only: names and annotations, not whole objects.
	namespaceMeta := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	if _, err := mgr.GetCache().GetInformer(context.Background(), namespaceMeta); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	webhook.Register(mgr.GetWebhookServer(), mgr.GetClient(), webhook.Config{Image: o.image, DefaultDestination: o.defaultDestination})
	if err := backup.Setup(mgr, backup.Config{Image: o.image, DefaultDestination: o.defaultDestination}); err != nil {
		return nil, fmt.Errorf("setting up the backup reconciler: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, err
	}
	return mgr, nil
}
