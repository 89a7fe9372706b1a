// Package certs gives the webhook server its TLS certificate when
// cert-manager does not: it makes a CA and a serving certificate for the
// webhook Service, keeps them in a Secret in the server's namespace, puts
// the CA into the caBundle of the server's own webhook configurations and
// renews both well before they expire.
//
// The Secret is the source of truth: every replica serves the pair stored
// there, and a replica that loses a race to create or renew it reads the
// winner's. The pair is served from memory through tls.Config's
// GetCertificate, so a renewed certificate is served the moment a replica
// reads it, without a restart, a volume or a file watch.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Config says which Secret to keep, what the certificate is for and which
// webhook configurations trust it.
type Config struct {
	// Namespace holds the Secret and the Service.
	Namespace string
	// Secret is the name of the Secret that holds the pair.
	Secret string
	// Service is the webhook Service's name: the certificate is valid for
	// <Service>.<Namespace>.svc and <Service>.<Namespace>.svc.cluster.local.
	Service string
	// ExtraNames are more DNS names or IP addresses it is valid for.
	ExtraNames []string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration are
	// the configurations whose webhooks get the CA as caBundle; no other
	// configuration is touched. Empty skips one.
	MutatingWebhookConfiguration   string
	ValidatingWebhookConfiguration string
	// CAValidity and CertValidity are how long new certificates are valid
	// (10 years and 1 year when zero). Each is renewed two thirds through.
	CAValidity   time.Duration
	CertValidity time.Duration
	// Resync is how often the Secret and the caBundles are checked between
	// renewals, to pick up a Secret another replica renewed and to put
	// back a caBundle someone reset (30 seconds when zero).
	Resync time.Duration
	// Log receives what happens; controller-runtime's logger when unset.
	Log logr.Logger
}

// Rotator keeps the serving certificate. Add it to a manager (it runs on
// every replica, not only on the leader), serve with its GetCertificate and
// use its Ready as a readiness check.
type Rotator struct {
	client   client.Client
	cfg      Config
	names    names
	validity validity
	log      logr.Logger
	now      func() time.Time

	current atomic.Pointer[served]
	mu      sync.Mutex
	trusted []byte // the caBundle last seen on every webhook of our configurations
	problem error  // why the last pass could not make sure of it, if it could not
}

// New returns a Rotator that reads and writes through c. c should not be a
// caching client: the Rotator reads one Secret and two configurations, and
// its RBAC grants no list or watch.
func New(c client.Client, cfg Config) (*Rotator, error) {
	if cfg.Namespace == "" || cfg.Secret == "" || cfg.Service == "" {
		return nil, errors.New("certs: the namespace, Secret and Service names are required")
	}
	if cfg.CAValidity == 0 {
		cfg.CAValidity = 10 * 365 * 24 * time.Hour
	}
	if cfg.CertValidity == 0 {
		cfg.CertValidity = 365 * 24 * time.Hour
	}
	if cfg.Resync == 0 {
		cfg.Resync = 30 * time.Second
	}
	log := cfg.Log
	if log.GetSink() == nil {
		log = logf.Log.WithName("certs")
	}
	return &Rotator{
		client:   c,
		cfg:      cfg,
		names:    serviceNames(cfg.Service, cfg.Namespace, cfg.ExtraNames),
		validity: validity{ca: cfg.CAValidity, cert: cfg.CertValidity},
		log:      log.WithValues("secret", cfg.Namespace+"/"+cfg.Secret),
		now:      time.Now,
	}, nil
}

// NeedLeaderElection is false: every replica serves the webhook, so every
// replica needs the certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start keeps the certificate until ctx ends: it syncs at once, again when
// the pair is due for renewal and every Resync in between, and retries
// failures with a growing pause.
func (r *Rotator) Start(ctx context.Context) error {
	newBackoff := func() wait.Backoff {
		return wait.Backoff{Duration: time.Second, Factor: 2, Steps: math.MaxInt32, Cap: r.cfg.Resync}
	}
	retry := newBackoff()
	for {
		renewAt, err := r.Sync(ctx)
		var pause time.Duration
		if err != nil {
			pause = retry.Step()
			r.log.Error(err, "keeping the webhook serving certificate", "retryIn", pause.String())
		} else {
			pause, retry = min(r.cfg.Resync, renewAt.Sub(r.now())), newBackoff()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}

// Sync makes one pass: it reads the Secret, creates or renews the pair in
// it when needed, makes its CA the caBundle of our webhook configurations
// and serves it. It returns when the served pair is due for renewal.
func (r *Rotator) Sync(ctx context.Context) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	data, err := r.secret(ctx)
	if err != nil {
		return time.Time{}, err
	}
	next, err := load(data)
	if err != nil {
		return time.Time{}, fmt.Errorf("Secret %s/%s: %v", r.cfg.Namespace, r.cfg.Secret, err)
	}
	untrusted, trustErr := r.trust(ctx, next.bundle)
	r.mu.Lock()
	switch {
	case trustErr == nil:
		r.trusted, r.problem = next.bundle, nil
	case untrusted:
		r.trusted, r.problem = nil, trustErr // seen not to trust it, and not fixed
	default:
		r.problem = trustErr // not seen: what was seen last still holds
	}
	trusted := bytes.Equal(r.trusted, next.bundle)
	r.mu.Unlock()

	// A new pair is served once the apiserver trusts its CA, so that a CA
	// rotation never has a replica serve what the apiserver rejects; the
	// first pair and a pair replacing an expired one are served at once.
	old := r.current.Load()
	if trusted || old == nil || !r.now().Before(old.tls.Leaf.NotAfter) {
		if old == nil || !old.tls.Leaf.Equal(next.tls.Leaf) {
			r.log.Info("serving certificate", "serial", next.tls.Leaf.SerialNumber.String(),
				"validUntil", next.tls.Leaf.NotAfter.UTC().Format(time.RFC3339), "renewAt", next.renewAt.UTC().Format(time.RFC3339))
		}
		r.current.Store(next)
	}
	return next.renewAt, trustErr
}

// GetCertificate serves the current pair; use it as tls.Config's.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := r.current.Load()
	if s == nil {
		return nil, errors.New("no serving certificate yet: it is being issued")
	}
	return &s.tls, nil
}

// Ready fails until a certificate is served whose CA our webhook
// configurations trust. It is a controller-runtime healthz.Checker.
func (r *Rotator) Ready(*http.Request) error {
	s := r.current.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	var why string
	switch {
	case s == nil:
		why = "no serving certificate yet"
	case !bytes.Equal(r.trusted, s.bundle):
		why = "the caBundle of the webhook configurations is not yet the served certificate's CA"
	default:
		return nil
	}
	if r.problem != nil {
		return fmt.Errorf("%s: %v", why, r.problem)
	}
	return errors.New(why)
}

// secret returns the data of the Secret, creating or renewing the pair in
// it first when needed. When another replica creates or renews it at the
// same time, the one that loses reads the winner's.
func (r *Rotator) secret(ctx context.Context) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: r.cfg.Namespace, Name: r.cfg.Secret}
	for range 3 {
		var s corev1.Secret
		err := r.client.Get(ctx, key, &s)
		if apierrors.IsNotFound(err) {
			data, _, err := renew(nil, r.names, r.validity, r.now())
			if err != nil {
				return nil, err
			}
			s = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
					"app.kubernetes.io/name":       "neo4j-backup",
					"app.kubernetes.io/managed-by": "neo4j-backup",
				}},
				Type: corev1.SecretTypeTLS,
				Data: data,
			}
			err = r.client.Create(ctx, &s)
			if apierrors.IsAlreadyExists(err) {
				continue // another replica was first: serve its pair
			}
			if err != nil {
				return nil, fmt.Errorf("creating Secret %s: %w; the server's Role must allow creating Secrets in %s", key, err, key.Namespace)
			}
			r.log.Info("issued a CA and a serving certificate")
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		data, reason, err := renew(s.Data, r.names, r.validity, r.now())
		if err != nil {
			return nil, err
		}
		if reason == "" {
			return data, nil
		}
		s.Data = data
		err = r.client.Update(ctx, &s)
		if apierrors.IsConflict(err) {
			continue // another replica renewed it first: serve its pair
		}
		if err != nil {
			return nil, fmt.Errorf("renewing the pair in Secret %s (%s): %w", key, reason, err)
		}
		r.log.Info("renewed the serving certificate", "reason", reason)
		return data, nil
	}
	return nil, fmt.Errorf("Secret %s changed three times while it was being read; trying again", key)
}

// trust makes bundle the caBundle of every webhook of our two
// configurations, patching only those whose caBundle differs. untrusted
// says whether a configuration was seen not to trust bundle (or not to
// exist) and could not be fixed.
func (r *Rotator) trust(ctx context.Context, bundle []byte) (untrusted bool, err error) {
	if name := r.cfg.MutatingWebhookConfiguration; name != "" {
		var c admissionregistrationv1.MutatingWebhookConfiguration
		if missing, err := r.get(ctx, "MutatingWebhookConfiguration", name, &c); err != nil {
			return missing, err
		}
		var hooks []webhookCA
		for _, w := range c.Webhooks {
			hooks = append(hooks, webhookCA{w.Name, w.ClientConfig.CABundle})
		}
		if err := r.patchCABundle(ctx, "MutatingWebhookConfiguration", &c, hooks, bundle); err != nil {
			return true, err
		}
	}
	if name := r.cfg.ValidatingWebhookConfiguration; name != "" {
		var c admissionregistrationv1.ValidatingWebhookConfiguration
		if missing, err := r.get(ctx, "ValidatingWebhookConfiguration", name, &c); err != nil {
			return missing, err
		}
		var hooks []webhookCA
		for _, w := range c.Webhooks {
			hooks = append(hooks, webhookCA{w.Name, w.ClientConfig.CABundle})
		}
		if err := r.patchCABundle(ctx, "ValidatingWebhookConfiguration", &c, hooks, bundle); err != nil {
			return true, err
		}
	}
	return false, nil
}

// get reads a webhook configuration; missing says it does not exist.
func (r *Rotator) get(ctx context.Context, kind, name string, obj client.Object) (missing bool, err error) {
	err = r.client.Get(ctx, types.NamespacedName{Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return true, fmt.Errorf("%s %s not found: apply manifests/default, or name yours with --webhook-config-name", kind, name)
	}
	if err != nil {
		return false, fmt.Errorf("reading %s %s: %w", kind, name, err)
	}
	return false, nil
}

type webhookCA struct {
	name     string
	caBundle []byte
}

// patchCABundle sets caBundle on the webhooks of obj whose caBundle
// differs, with a JSON patch: only those fields change, fields this client
// does not know survive, and a test of each webhook's name makes the patch
// fail rather than hit the wrong webhook if the list changed since it was
// read.
func (r *Rotator) patchCABundle(ctx context.Context, kind string, obj client.Object, hooks []webhookCA, bundle []byte) error {
	var ops []jsonpatch.Operation
	for i, w := range hooks {
		if bytes.Equal(w.caBundle, bundle) {
			continue
		}
		ops = append(ops,
			jsonpatch.Operation{Operation: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.name},
			jsonpatch.Operation{Operation: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: bundle}) // []byte: base64, as the API wants
	}
	if len(ops) == 0 {
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if err := r.client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("setting the caBundle of %s %s: %w", kind, obj.GetName(), err)
	}
	r.log.Info("set the caBundle", kind, obj.GetName(), "webhooks", len(ops)/2)
	return nil
}
