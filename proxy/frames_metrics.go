package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// framesObserver feeds the frame relay's calls into the same metrics as
// Proxy's: requests_total, request_duration_seconds and
// requests_in_flight by route, cluster and upstream endpoint;
// unrouted_requests_total; and the series of an endpoint its cluster's
// policy let go of are deleted.
type framesObserver struct {
	m      *metrics
	routes []*routeMetrics // by the relay's route index
}

func newFramesObserver(m *metrics, rc framerelay.Config, labels []string) *framesObserver {
	o := &framesObserver{m: m}
	for i, r := range rc.Routes {
		o.routes = append(o.routes, m.forRoute(labels[i], r.Cluster))
	}
	return o
}

func (o *framesObserver) CallStarted(route int) { o.routes[route].inFlight.Inc() }

func (o *framesObserver) CallEnded(route int, upstream string, code codes.Code, took time.Duration) {
	rm := o.routes[route]
	rm.inFlight.Dec()
	e := rm.none
	if upstream != "" {
		e = rm.endpoint(upstreamAddr(upstream))
	}
	e.done(code, took)
}

func (o *framesObserver) Unrouted() { o.m.unrouted.Inc() }

func (o *framesObserver) EndpointGone(cluster, addr string) {
	o.m.forgetEndpoints(cluster, []string{addr})
}

// upstreamAddr is a backend's address as a net.Addr, for metrics.
type upstreamAddr string

func (a upstreamAddr) Network() string { return "tcp" }
func (a upstreamAddr) String() string  { return string(a) }

// framesClusterCollector exports each cluster's policy state and health
// at each scrape, as Proxy's clusterCollector does.
type framesClusterCollector struct{ r *framerelay.Relay }

func (c framesClusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterHealthyDesc
	ch <- clusterStateDesc
}

func (c framesClusterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cs := range c.r.Clusters() {
		healthy := 0.0
		if cs.State.String() == "READY" {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterHealthyDesc, prometheus.GaugeValue, healthy, cs.Name)
		ch <- prometheus.MustNewConstMetric(clusterStateDesc, prometheus.GaugeValue, 1, cs.Name, cs.State.String())
	}
}
