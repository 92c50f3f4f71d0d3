package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// framesObserver feeds the frame relay's calls into the same metrics as
// Proxy's: requests_total, request_duration_seconds and
// requests_in_flight by route, cluster and upstream endpoint;
// unrouted_requests_total; and the series of an endpoint its cluster's
// policy let go of are deleted.
type framesObserver struct {
	m      *metrics
	routes []*framesRoute // by the relay's route index
}

// framesRoute is a route's metric handles, with its endpoints' by
// address: a lookup by string allocates nothing, unlike routeMetrics'
// (keyed by net.Addr, as grpc-go reports the peer).
type framesRoute struct {
	*routeMetrics
	mu  sync.RWMutex
	eps map[string]*endpointMetrics
}

func newFramesObserver(m *metrics, rc framerelay.Config, labels []string) *framesObserver {
	o := &framesObserver{m: m}
	for i, r := range rc.Routes {
		o.routes = append(o.routes, &framesRoute{routeMetrics: m.forRoute(labels[i], r.Cluster), eps: map[string]*endpointMetrics{}})
	}
	return o
}

func (o *framesObserver) CallStarted(route int) { o.routes[route].inFlight.Inc() }

func (o *framesObserver) CallEnded(route int, upstream string, code codes.Code, took time.Duration) {
	fr := o.routes[route]
	fr.inFlight.Dec()
	fr.endpointOf(upstream).done(code, took)
}

// endpointOf returns the handles of the endpoint at addr ("" for none).
func (fr *framesRoute) endpointOf(addr string) *endpointMetrics {
	if addr == "" {
		return fr.none
	}
	fr.mu.RLock()
	e := fr.eps[addr]
	fr.mu.RUnlock()
	if e != nil {
		return e
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if e = fr.eps[addr]; e == nil {
		e = fr.newEndpoint(addr)
		if len(fr.eps) < maxCachedEndpoints {
			fr.eps[addr] = e
		}
	}
	return e
}

func (o *framesObserver) Unrouted() { o.m.unrouted.Inc() }

func (o *framesObserver) EndpointGone(cluster, addr string) {
	for _, fr := range o.routes {
		if fr.cluster == cluster {
			fr.mu.Lock()
			delete(fr.eps, addr)
			fr.mu.Unlock()
		}
	}
	o.m.forgetEndpoints(cluster, []string{addr})
}

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
		if cs.State == connectivity.Ready {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterHealthyDesc, prometheus.GaugeValue, healthy, cs.Name)
		ch <- prometheus.MustNewConstMetric(clusterStateDesc, prometheus.GaugeValue, 1, cs.Name, cs.State.String())
	}
}
