package proxy

import (
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// metrics are the proxy's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // route, cluster, upstream, code
	latency   *prometheus.HistogramVec // route, cluster, upstream
	inFlight  *prometheus.GaugeVec     // route, cluster
	recvBytes *prometheus.CounterVec   // route, cluster
	sentBytes *prometheus.CounterVec   // route, cluster
	unrouted  prometheus.Counter
	reloads   *prometheus.CounterVec // result
	loadedAt  prometheus.Gauge

	routes sync.Map // [2]string{route, cluster} → *routeMetrics, kept across reloads

	open        atomic.Int64 // client connections open, kept by limitListener
	refused     prometheus.Counter
	budgetWaits *prometheus.CounterVec // result: ok, overrun
}

// reloaded counts a reload that ended with err, and returns err.
func (m *metrics) reloaded(err error) error {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.reloads.WithLabelValues(result).Inc()
	return err
}

// budgetWait counts a wait for room in the buffer budget.
func (m *metrics) budgetWait(overrun bool) {
	result := "ok"
	if overrun {
		result = "overrun"
	}
	m.budgetWaits.WithLabelValues(result).Inc()
}

// registerBudget registers the connection and buffer-budget series.
func (m *metrics) registerBudget(b *budgetPool) {
	const ns = "grpclb_proxy"
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_refused_total",
		Help: "Client connections closed as soon as accepted: connections.max were open."})
	m.budgetWaits = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "buffer_waits_total",
		Help: "Frames whose reading waited for room in limits.maxBufferedBytes, by result: ok (room came) or overrun (read over the budget after the wait's bound)."},
		[]string{"result"})
	m.budgetWaits.WithLabelValues("ok")
	m.budgetWaits.WithLabelValues("overrun")
	m.reg.MustRegister(m.refused, m.budgetWaits,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "connections_open",
			Help: "Client connections open now."}, func() float64 { return float64(m.open.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "buffered_bytes",
			Help: "Bytes of message buffers held now, both ways (limits.maxBufferedBytes bounds it)."}, func() float64 { return float64(b.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "buffered_bytes_limit",
			Help: "limits.maxBufferedBytes."}, func() float64 { return float64(b.max) }),
	)
}

// latencyBuckets reach down to the sub-millisecond calls a proxy in front
// of fast backends sees.
var latencyBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics() *metrics {
	const ns = "grpclb_proxy"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "Calls forwarded, by route, cluster, upstream endpoint (none: no endpoint was reached) and status code."},
			[]string{"route", "cluster", "upstream", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help: "Time from a call's arrival to its status, by route, cluster and upstream endpoint.", Buckets: latencyBuckets},
			[]string{"route", "cluster", "upstream"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "requests_in_flight",
			Help: "Calls being forwarded now."}, []string{"route", "cluster"}),
		recvBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "request_message_bytes_total",
			Help: "Bytes of request messages received from clients."}, []string{"route", "cluster"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "response_message_bytes_total",
			Help: "Bytes of response messages sent to clients."}, []string{"route", "cluster"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "unrouted_requests_total",
			Help: "Calls refused with UNIMPLEMENTED because no route matched."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Config reloads, by result (ok or error)."}, []string{"result"}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_loaded_timestamp_seconds",
			Help: "When the config in use was loaded."}),
	}
	// Both results exist from the start, at 0, so that an alert on
	// increase(...{result="error"}[5m]) can fire on the first failure.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help:        "Always 1; its labels say which proxy runs: grpclb's module version and the Go and grpc-go versions it was built with.",
		ConstLabels: buildLabels()})
	buildInfo.Set(1)
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.recvBytes, m.sentBytes, m.unrouted, m.reloads, m.loadedAt, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// maxCachedEndpoints bounds each route's cache of metric handles; beyond
// it, handles are looked up per call.
const maxCachedEndpoints = 1024

// routeMetrics holds one route's metric handles, so that a call looks up
// no label values in the common case.
type routeMetrics struct {
	m                    *metrics
	route, cluster       string
	inFlight             prometheus.Gauge
	recvBytes, sentBytes prometheus.Counter
	none                 *endpointMetrics // calls that reached no endpoint
	endpoints            sync.Map         // *net.TCPAddr (by pointer) or string → *endpointMetrics
	cached               atomic.Int32
}

type endpointMetrics struct {
	rm       *routeMetrics
	upstream string
	latency  prometheus.Observer
	codes    [17]atomic.Pointer[prometheus.Counter]
}

func (m *metrics) forRoute(route, cluster string) *routeMetrics {
	if rm, ok := m.routes.Load([2]string{route, cluster}); ok {
		return rm.(*routeMetrics)
	}
	rm := &routeMetrics{
		m: m, route: route, cluster: cluster,
		inFlight:  m.inFlight.WithLabelValues(route, cluster),
		recvBytes: m.recvBytes.WithLabelValues(route, cluster),
		sentBytes: m.sentBytes.WithLabelValues(route, cluster),
	}
	rm.none = rm.newEndpoint("none")
	actual, _ := m.routes.LoadOrStore([2]string{route, cluster}, rm)
	return actual.(*routeMetrics)
}

// forgetEndpoints deletes the series of the endpoints of cluster that left
// its resolver's set, so that pod churn does not grow the series without
// bound. An endpoint that comes back starts again from zero.
func (m *metrics) forgetEndpoints(cluster string, addrs []string) {
	for _, a := range addrs {
		l := prometheus.Labels{"cluster": cluster, "upstream": a}
		m.requests.DeletePartialMatch(l)
		m.latency.DeletePartialMatch(l)
	}
	m.routes.Range(func(k, v any) bool {
		if k.([2]string)[1] != cluster {
			return true
		}
		rm := v.(*routeMetrics)
		rm.endpoints.Range(func(key, e any) bool {
			if slices.Contains(addrs, e.(*endpointMetrics).upstream) && rm.endpoints.CompareAndDelete(key, e) {
				rm.cached.Add(-1)
			}
			return true
		})
		return true
	})
}

func (rm *routeMetrics) newEndpoint(upstream string) *endpointMetrics {
	return &endpointMetrics{rm: rm, upstream: upstream, latency: rm.m.latency.WithLabelValues(rm.route, rm.cluster, upstream)}
}

// endpoint returns the handles of the endpoint at addr. Transports keep
// one *net.TCPAddr for their life, so the pointer is a cheap cache key.
func (rm *routeMetrics) endpoint(addr net.Addr) *endpointMetrics {
	if addr == nil {
		return rm.none
	}
	var key any = addr
	if _, ok := addr.(*net.TCPAddr); !ok {
		key = addr.String()
	}
	if e, ok := rm.endpoints.Load(key); ok {
		return e.(*endpointMetrics)
	}
	e := rm.newEndpoint(addr.String())
	if rm.cached.Load() < maxCachedEndpoints {
		if prev, loaded := rm.endpoints.LoadOrStore(key, e); loaded {
			return prev.(*endpointMetrics)
		}
		rm.cached.Add(1)
	}
	return e
}

// done records a finished call.
func (e *endpointMetrics) done(code codes.Code, took time.Duration) {
	e.latency.Observe(took.Seconds())
	if int(code) >= len(e.codes) {
		e.rm.m.requests.WithLabelValues(e.rm.route, e.rm.cluster, e.upstream, code.String()).Inc()
		return
	}
	c := e.codes[code].Load()
	if c == nil {
		v := e.rm.m.requests.WithLabelValues(e.rm.route, e.rm.cluster, e.upstream, code.String())
		c = &v
		e.codes[code].Store(c)
	}
	(*c).Inc()
}

// buildLabels are build_info's labels, read from the binary's build
// information: version is the first grpclb module's (the binary's own
// first), "unknown" in a build from a checkout.
func buildLabels() prometheus.Labels {
	l := prometheus.Labels{"version": "unknown", "goversion": runtime.Version(), "grpc_go": grpc.Version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return l
	}
	for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
		if strings.HasPrefix(m.Path, "github.com/grpclb/grpclb") && m.Version != "" && m.Version != "(devel)" {
			l["version"] = m.Version
			break
		}
	}
	return l
}

// clusterCollector exports the clusters of the config in use, read at
// each scrape: endpoints published, health, channel state.
type clusterCollector struct{ p *Proxy }

var (
	clusterEndpointsDesc = prometheus.NewDesc("grpclb_proxy_cluster_endpoints",
		"Endpoint addresses the cluster's resolver last published.", []string{"cluster"}, nil)
	clusterHealthyDesc = prometheus.NewDesc("grpclb_proxy_cluster_healthy",
		"1 while the cluster's channel is READY or IDLE (see /readyz), else 0.", []string{"cluster"}, nil)
	clusterStateDesc = prometheus.NewDesc("grpclb_proxy_cluster_state",
		"1 for the cluster channel's connectivity state.", []string{"cluster", "state"}, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterEndpointsDesc
	ch <- clusterHealthyDesc
	ch <- clusterStateDesc
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.state.Load()
	if st == nil {
		return
	}
	for name, u := range st.upstreams {
		eps, _, _ := u.disc.snapshot()
		healthy := 0.0
		if u.healthy() {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterEndpointsDesc, prometheus.GaugeValue, float64(len(eps)), name)
		ch <- prometheus.MustNewConstMetric(clusterHealthyDesc, prometheus.GaugeValue, healthy, name)
		ch <- prometheus.MustNewConstMetric(clusterStateDesc, prometheus.GaugeValue, 1, name, u.state().String())
	}
}
