package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's Prometheus collectors.
type Metrics struct {
	// Decisions counts decisions by endpoint, kind, operation, result and
	// code ("" when no code applies, e.g. an allowed request).
	Decisions *prometheus.CounterVec
	// Evaluation is the policy evaluation latency (facts and Rego), with
	// sub-millisecond buckets.
	Evaluation *prometheus.HistogramVec
}

// NewMetrics creates and registers the collectors.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canarygate_decisions_total",
			Help: "Admission decisions by endpoint, kind, operation, result (allowed, denied, warned, error) and code.",
		}, []string{"endpoint", "kind", "operation", "result", "code"}),
		Evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "canarygate_policy_evaluation_seconds",
			Help:    "Time to gather facts and evaluate the policies for one request.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5},
		}, []string{"endpoint"}),
	}
	for _, c := range []prometheus.Collector{m.Decisions, m.Evaluation} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
