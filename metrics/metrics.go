package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the collectors. It is a prometheus.Collector: register it
// once in a Registerer.
type Metrics struct {
	attempts        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	inFlight        *prometheus.GaugeVec
	resolverUpdates *prometheus.CounterVec
	resolverErrors  *prometheus.CounterVec
	endpoints       *prometheus.GaugeVec
	ejections       *prometheus.CounterVec
}

// Option changes how New makes the metrics.
type Option func(*options)

type options struct {
	buckets []float64
	labels  prometheus.Labels
}

// WithBuckets sets the latency histogram's buckets, in seconds. Default:
// 100µs to 10s, roughly ×2.5 apart.
func WithBuckets(b ...float64) Option { return func(o *options) { o.buckets = b } }

// WithConstLabels adds labels to every metric (for example the client's
// name when one process has several).
func WithConstLabels(l prometheus.Labels) Option { return func(o *options) { o.labels = l } }

// DefaultBuckets are the latency buckets, in seconds.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes the metrics; nothing is registered anywhere.
func New(opts ...Option) *Metrics {
	o := options{buckets: DefaultBuckets}
	for _, f := range opts {
		f(&o)
	}
	// Every metric is grpclb_client_<name>, with the constant labels.
	const ns, sub = "grpclb", "client"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, ConstLabels: o.labels, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, ConstLabels: o.labels, Help: help}, labels)
	}
	return &Metrics{
		attempts: counter("attempts_total", "Call attempts finished, by endpoint and status code.", "target", "method", "endpoint", "code"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "attempt_seconds", ConstLabels: o.labels, Buckets: o.buckets,
			Help: "Latency of call attempts, by endpoint.",
		}, []string{"target", "method", "endpoint"}),
		inFlight:        gauge("in_flight", "Call attempts in flight, by endpoint.", "target", "endpoint"),
		resolverUpdates: counter("resolver_updates_total", "States published by the resolver.", "target"),
		resolverErrors:  counter("resolver_errors_total", "Errors reported by the resolver.", "target"),
		endpoints:       gauge("resolver_endpoints", "Endpoints in the resolver's last published state.", "target"),
		ejections:       counter("ejections_total", "Endpoints ejected by outlier detection.", "target", "endpoint"),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.attempts, m.latency, m.inFlight, m.resolverUpdates, m.resolverErrors, m.endpoints, m.ejections}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// ObserveEjection counts an ejection of endpoint by outlier detection.
func (m *Metrics) ObserveEjection(target, endpoint string) {
	m.ejections.WithLabelValues(target, endpoint).Inc()
}
