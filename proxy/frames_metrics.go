package proxy

import (
	"cmp"
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
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
	log    *slog.Logger   // the access log; nil: none
}

// framesRoute is a route's metric handles, with its endpoints' by
// address: a lookup by string allocates nothing, unlike routeMetrics'
// (keyed by net.Addr, as grpc-go reports the peer).
type framesRoute struct {
	*routeMetrics
	mu  sync.RWMutex
	eps map[string]*endpointMetrics
}

func newFramesObserver(m *metrics, rc framerelay.Config, labels []string, accessLog *slog.Logger) *framesObserver {
	o := &framesObserver{m: m, log: accessLog}
	for i, r := range rc.Routes {
		o.routes = append(o.routes, &framesRoute{routeMetrics: m.forRoute(labels[i], r.Cluster), eps: map[string]*endpointMetrics{}})
	}
	return o
}

func (o *framesObserver) CallStarted(route int) { o.routes[route].inFlight.Inc() }

func (o *framesObserver) CallEnded(e framerelay.CallEnd) {
	fr := o.routes[e.Route]
	fr.inFlight.Dec()
	fr.recvBytes.Add(float64(e.RequestBytes))
	fr.sentBytes.Add(float64(e.ResponseBytes))
	fr.endpointOf(e.Upstream).done(e.Code, e.Took)
	if o.log != nil && o.log.Enabled(context.Background(), slog.LevelInfo) {
		upstream := cmp.Or(e.Upstream, "none")
		o.log.LogAttrs(context.Background(), slog.LevelInfo, "rpc",
			slog.String("method", e.Method),
			slog.String("route", fr.route),
			slog.String("cluster", fr.cluster),
			slog.String("upstream", upstream),
			slog.String("code", e.Code.String()),
			slog.Duration("duration", e.Took),
			slog.Int64("req_bytes", e.RequestBytes),
			slog.Int64("resp_bytes", e.ResponseBytes),
			slog.String("client", e.Client),
		)
	}
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

// framesCollector exports, at each scrape, each cluster's policy state and
// health, as Proxy's clusterCollector does, and the connections and the
// buffer budget in use, as Proxy's registerBudget does.
type framesCollector struct{ r *framerelay.Relay }

var (
	framesConnectionsDesc = prometheus.NewDesc("grpclb_proxy_connections_open", "Client connections open now.", nil, nil)
	framesRefusedDesc     = prometheus.NewDesc("grpclb_proxy_connections_refused_total",
		"Client connections closed as soon as accepted: connections.max were open.", nil, nil)
	framesBufferedDesc = prometheus.NewDesc("grpclb_proxy_buffered_bytes",
		"Bytes of messages held now, both ways: sent to the proxy and not yet written on.", nil, nil)
	framesLentDesc = prometheus.NewDesc("grpclb_proxy_buffered_bytes_lent",
		"Bytes of limits.maxBufferedBytes lent now: connection window given to clients and backends beyond HTTP/2's free initial 64 KiB each, which bounds what they can make the proxy hold.", nil, nil)
	framesBufferedLimitDesc = prometheus.NewDesc("grpclb_proxy_buffered_bytes_limit", "limits.maxBufferedBytes.", nil, nil)
)

func (c framesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterHealthyDesc
	ch <- clusterStateDesc
	ch <- clusterEndpointsDesc
	ch <- framesConnectionsDesc
	ch <- framesRefusedDesc
	ch <- framesBufferedDesc
	ch <- framesLentDesc
	ch <- framesBufferedLimitDesc
}

func (c framesCollector) Collect(ch chan<- prometheus.Metric) {
	u := c.r.Usage()
	ch <- prometheus.MustNewConstMetric(framesConnectionsDesc, prometheus.GaugeValue, float64(u.Connections))
	ch <- prometheus.MustNewConstMetric(framesRefusedDesc, prometheus.CounterValue, float64(u.Refused))
	ch <- prometheus.MustNewConstMetric(framesBufferedDesc, prometheus.GaugeValue, float64(u.BufferedBytes))
	ch <- prometheus.MustNewConstMetric(framesLentDesc, prometheus.GaugeValue, float64(u.LentBytes))
	ch <- prometheus.MustNewConstMetric(framesBufferedLimitDesc, prometheus.GaugeValue, float64(u.MaxBufferedBytes))
	for _, cs := range c.r.Clusters() {
		healthy := 0.0
		if cs.State == connectivity.Ready {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterHealthyDesc, prometheus.GaugeValue, healthy, cs.Name)
		ch <- prometheus.MustNewConstMetric(clusterStateDesc, prometheus.GaugeValue, 1, cs.Name, cs.State.String())
		published := 0
		for _, e := range cs.Endpoints {
			if e.Weight > 0 { // the resolver's, not only a SubConn's
				published++
			}
		}
		ch <- prometheus.MustNewConstMetric(clusterEndpointsDesc, prometheus.GaugeValue, float64(published), cs.Name)
	}
}
