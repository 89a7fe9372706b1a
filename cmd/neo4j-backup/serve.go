package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/certs"
	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/webhook"
)

// serveOptions are serve's flags; they are part of the contract.
type serveOptions struct {
	kubeconfig         string
	webhookHost        string
	webhookPort        int
	certDir            string
	certMode           string
	namespace          string
	certSecret         string
	serviceName        string
	extraSANs          []string
	webhookConfigName  string
	certValidity       time.Duration
	caValidity         time.Duration
	image              string
	defaultDestination string
	metricsAddr        string
	probeAddr          string
	leaderElect        bool
	shutdownDelay      time.Duration
	drainTimeout       time.Duration
}

func newServeCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook and the backup reconciler (in the cluster)",
		Long: `Run the admission webhook that injects restores into Neo4j pods and the
reconciler that keeps the backup CronJob of every annotated namespace, as the
Deployment in manifests/ does. The webhook runs on every replica, the
reconciler on the elected leader (--leader-elect).`,
		Example: `  # In the cluster, making and renewing its own certificate
  neo4j-backup serve --cert-mode self --leader-elect --default-destination s3://prod-backups/neo4j

  # On this machine, for webhook configurations that call https://127.0.0.1:9443
  neo4j-backup serve --kubeconfig ~/.kube/config --image registry.example/neo4j-backup:v1 \
    --cert-mode self --namespace neo4j-backup --extra-san 127.0.0.1`,
		GroupID: groupKube,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; in a pod the service account is used")
	_ = cmd.MarkFlagFilename("kubeconfig")
	fs.StringVar(&o.webhookHost, "webhook-host", "", "address the webhook server listens on (all when empty)")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the webhook server (HTTPS)")
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "with --cert-mode=files, the folder holding tls.crt and tls.key; a renewed pair is served without a restart")
	_ = cmd.MarkFlagDirname("cert-dir")
	fs.StringVar(&o.certMode, "cert-mode", "files", "files: serve the pair in --cert-dir (cert-manager, or your own); self: make and renew a CA and serving certificate, keep them in --cert-secret and set the caBundle of the webhook configurations")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the webhook Service and of --cert-secret (default the pod's own; outside a pod, neo4j-backup)")
	fs.StringVar(&o.certSecret, "cert-secret", "neo4j-backup-webhook-tls", "with --cert-mode=self, the Secret that holds the CA and serving certificate")
	fs.StringVar(&o.serviceName, "service-name", "neo4j-backup-webhook", "with --cert-mode=self, the webhook Service: the certificate is valid for NAME.NAMESPACE.svc")
	fs.StringSliceVar(&o.extraSANs, "extra-san", nil, "with --cert-mode=self, another DNS name or IP address the certificate is valid for (repeat or separate with commas; 127.0.0.1 to run outside the cluster)")
	fs.StringVar(&o.webhookConfigName, "webhook-config-name", "neo4j-backup", "with --cert-mode=self, the Mutating- and ValidatingWebhookConfiguration whose caBundle is set; no other is touched")
	fs.DurationVar(&o.certValidity, "cert-validity", 365*24*time.Hour, "with --cert-mode=self, how long a serving certificate is valid; it is renewed two thirds through")
	fs.DurationVar(&o.caValidity, "ca-validity", 10*365*24*time.Hour, "with --cert-mode=self, how long the CA is valid; it is renewed two thirds through")
	fs.StringVar(&o.image, "image", "", "this image, as injected into Neo4j pods and backup CronJobs; in a pod with POD_NAME and POD_NAMESPACE set, the image of its own neo4j-backup container by default")
	fs.StringVar(&o.defaultDestination, "default-destination", "", "s3://bucket/prefix for namespaces that set no "+annotations.Destination)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect one replica to run the reconciler (the webhook runs on every replica)")
	fs.DurationVar(&o.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, how long /readyz fails while admission requests are still answered, so the Service stops sending them here before the port closes")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Second, "after --shutdown-delay, how long in-flight admission requests may take to finish; a second SIGTERM stops at once")
	return cmd
}

func runServe(ctx context.Context, o serveOptions, stderr io.Writer) error {
	// The default is read here, not in the flag, so that --help says the
	// same in a pod and outside one.
	o.namespace = cmp.Or(o.namespace, podNamespace())
	o.extraSANs = cleanList(o.extraSANs)
	if o.image == "" && (os.Getenv("POD_NAME") == "" || os.Getenv("POD_NAMESPACE") == "") {
		return usagef("--image is required outside a pod: the image of this binary, to inject into Neo4j pods")
	}
	if o.defaultDestination != "" {
		if _, err := storage.ParseLocation(o.defaultDestination); err != nil {
			return usagef("--default-destination: %v", err)
		}
	}
	if o.certMode != "files" && o.certMode != "self" {
		return usagef("--cert-mode=%s: want files (read --cert-dir) or self (make and renew the certificate)", o.certMode)
	}
	if o.certMode == "self" && (o.certValidity <= 0 || o.caValidity <= 0) {
		return usagef("--cert-validity and --ca-validity must be positive")
	}
	if o.shutdownDelay < 0 || o.drainTimeout <= 0 {
		return usagef("--shutdown-delay must not be negative and --drain-timeout must be positive")
	}
	// Locked: the manager logs from many goroutines, and stderr need not be a file.
	ctrl.SetLogger(zap.New(zap.WriteTo(zapcore.Lock(zapcore.AddSync(stderr)))))
	var stopping atomic.Bool
	mgr, err := newManager(o, &stopping)
	if err != nil {
		return err
	}
	// ctx ends at the first SIGTERM (main); these are counted for a second.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	return startAndDrain(ctx, mgr, o, &stopping, signals)
}

// startAndDrain runs the manager until ctx ends, then shuts down without
// dropping an admission request (README, "Install"): /readyz fails at once,
// so the Service (kube-proxy, or any load balancer probing /readyz) stops
// sending new connections here; requests are still answered for
// --shutdown-delay, the time that takes to reach every node; then the
// manager stops, the webhook server closes its port and tells the
// apiserver's open HTTP/2 connection to go elsewhere (GOAWAY), and what is
// in flight may finish within --drain-timeout. A second signal stops at once.
func startAndDrain(ctx context.Context, mgr ctrl.Manager, o serveOptions, stopping *atomic.Bool, signals <-chan os.Signal) error {
	// The manager's own context ends only after the delay.
	mgrCtx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	defer stopManager()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	seen := 0 // signals; the first also ends ctx
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	case <-signals:
		seen++
	}
	stopping.Store(true)
	log := ctrl.Log.WithName("shutdown")
	log.Info("stopping: /readyz fails now, admission requests are answered until the delay ends, then drained", "shutdownDelay", o.shutdownDelay, "drainTimeout", o.drainTimeout)
	delay := time.NewTimer(o.shutdownDelay)
	defer delay.Stop()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("admission requests or the reconciler were still busy after --drain-timeout=%s; raise it, keeping --shutdown-delay plus --drain-timeout below the pod's terminationGracePeriodSeconds", o.drainTimeout)
			}
			return err
		case <-delay.C:
			log.Info("closing the webhook port and draining in-flight requests")
			stopManager()
		case <-signals:
			if seen++; seen >= 2 {
				return errors.New("stopped at a second signal without draining: admission requests in flight were cut off")
			}
		}
	}
}

// newManager wires the webhook server, the backup reconciler and their cache
// into a manager. /readyz fails once stopping is set.
func newManager(o serveOptions, stopping *atomic.Bool) (ctrl.Manager, error) {
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
	if o.image == "" {
		if o.image, err = ownImage(restConfig); err != nil {
			return nil, err
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	drain := o.drainTimeout
	serving := ctrlwebhook.Options{Host: o.webhookHost, Port: o.webhookPort, CertDir: o.certDir}
	var rotator *certs.Rotator
	if o.certMode == "self" {
		if rotator, err = newRotator(restConfig, scheme, o); err != nil {
			return nil, err
		}
		// Served from memory, straight from the Secret: the Deployment
		// mounts no Secret (it does not exist before the first start, and a
		// mounted one lags behind a renewal by up to a minute or two) and
		// needs no writable folder; --cert-dir is not read.
		serving.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate }}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "neo4j-backup",
		// The process ends as soon as the manager has stopped, so the lease
		// can be handed on at once instead of after it expires.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &drain,
		// With --cert-mode=files controller-runtime's certwatcher reloads
		// the pair when the files change (a Secret volume updates them).
		WebhookServer: ctrlwebhook.NewServer(serving),
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
	err = mgr.AddReadyzCheck("shutdown", func(*http.Request) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rotator != nil {
		if err := mgr.Add(rotator); err != nil {
			return nil, err
		}
		// Not ready until the apiserver trusts what is served.
		if err := mgr.AddReadyzCheck("certificate", rotator.Ready); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newRotator makes the certificate keeper of --cert-mode=self. Its client
// does not cache: it reads one Secret and two configurations by name, and
// its RBAC grants no list or watch.
func newRotator(restConfig *rest.Config, scheme *runtime.Scheme, o serveOptions) (*certs.Rotator, error) {
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return certs.New(c, certs.Config{
		Namespace:                      o.namespace,
		Secret:                         o.certSecret,
		Service:                        o.serviceName,
		ExtraNames:                     o.extraSANs,
		MutatingWebhookConfiguration:   o.webhookConfigName,
		ValidatingWebhookConfiguration: o.webhookConfigName,
		CAValidity:                     o.caValidity,
		CertValidity:                   o.certValidity,
		Log:                            ctrl.Log.WithName("certs"),
	})
}

// cleanList drops the spaces around the items of a comma list and the
// empty ones: --extra-san "a, b," is a and b.
func cleanList(items []string) []string {
	var clean []string
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			clean = append(clean, item)
		}
	}
	return clean
}

// podNamespace is the namespace of the pod this runs in, or neo4j-backup
// outside a pod.
func podNamespace() string {
	if ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(ns)); ns != "" {
			return ns
		}
	}
	return "neo4j-backup"
}

// ownImage is the image of this pod's neo4j-backup container, so the image
// injected into Neo4j pods is always the one running, whatever a kustomize
// `images:` or a `kubectl set image` changed.
func ownImage(restConfig *rest.Config) (string, error) {
	c, err := client.New(restConfig, client.Options{})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pod corev1.Pod
	key := client.ObjectKey{Namespace: os.Getenv("POD_NAMESPACE"), Name: os.Getenv("POD_NAME")}
	if err := c.Get(ctx, key, &pod); err != nil {
		return "", fmt.Errorf("reading this pod %s to learn its image: %v; pass --image", key, err)
	}
	for _, container := range pod.Spec.Containers {
		if container.Name == "neo4j-backup" {
			return container.Image, nil
		}
	}
	return "", fmt.Errorf("pod %s has no container named neo4j-backup; pass --image", key)
}
