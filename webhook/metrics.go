package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Outcomes of an admission request, as counted.
const (
	outcomeInjected = "injected" // pod got the restore init containers
	outcomePatched  = "patched"  // StatefulSet template got the annotations
	outcomeAllowed  = "allowed"  // validation passed
	outcomeSkipped  = "skipped"  // nothing to do
	outcomeDenied   = "denied"   // the user's object was refused with a reason
	outcomeError    = "error"    // the request could not be handled
)

var admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "neo4j_backup_admission_requests_total",
	Help: "Admission requests handled, by webhook (pod, statefulset, validate) and outcome (injected, patched, allowed, skipped, denied, error).",
}, []string{"webhook", "outcome"})

func init() { metrics.Registry.MustRegister(admissions) }

func count(webhook, outcome string, resp admission.Response) admission.Response {
	admissions.WithLabelValues(webhook, outcome).Inc()
	return resp
}
