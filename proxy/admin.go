package proxy

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin endpoints, for a listener of their own:
//
//	/metrics  Prometheus metrics from the proxy's private registry
//	/healthz  200 while the process runs
//	/readyz   200 while the proxy takes calls: a config loaded, not
//	          draining, a cluster healthy; 503 and the reason otherwise
//	/clusters every cluster, as JSON: target, policy, channel state,
//	          health, routes, endpoints, the resolver's last error, and
//	          the last call that found no healthy upstream, with the
//	          channel's reason
//	/config   the config in use, defaults filled in, as JSON
//	/debug/pprof/ Go's profiler, with Options.Pprof
//
// Admin is plain HTTP without authentication: keep it on loopback, or
// behind a hop that authenticates.
func (p *Proxy) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.Clusters()) })
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.Config()) })
	if p.opts.Pprof {
		handlePprof(mux)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{Registry: p.metrics.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := p.readiness()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	return mux
}

// ClusterStatus is a cluster as /clusters shows it.
type ClusterStatus struct {
	Name    string   `json:"name"`
	Target  string   `json:"target"`
	Policy  string   `json:"policy"` // the service config
	State   string   `json:"state"`  // the channel's: READY, IDLE, CONNECTING, TRANSIENT_FAILURE
	Healthy bool     `json:"healthy"`
	Routes  []string `json:"routes"`
	// Endpoints are the addresses the resolver last published, with
	// their weights, the state of their subchannels and the calls in
	// flight on them (and addresses that left the set while a subchannel
	// to them lives on); ResolverError is the resolver's last error, until
	// it publishes a set again.
	Endpoints     []EndpointStatus `json:"endpoints"`
	ResolverError string           `json:"resolverError,omitempty"`
	// LastUnreached is the last call that found no healthy upstream, if
	// any: when, and the channel's reason (a resolver error, connection
	// errors).
	LastUnreached *Unreached `json:"lastUnreached,omitempty"`
}

// Unreached is a call that reached no endpoint of its cluster.
type Unreached struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Clusters returns the clusters of the config in use, by name.
func (p *Proxy) Clusters() []ClusterStatus {
	st := p.state.Load()
	routes := map[string][]string{}
	for _, r := range st.cfg.Routes {
		routes[r.Cluster] = append(routes[r.Cluster], r.label())
	}
	var out []ClusterStatus
	for _, name := range slices.Sorted(maps.Keys(st.upstreams)) {
		u, cl := st.upstreams[name], st.cfg.Clusters[name]
		sc, _ := cl.Policy.ServiceConfig()
		eps, weights, err := u.disc.snapshot()
		cs := ClusterStatus{
			Name: name, Target: cl.Target, Policy: sc,
			State: u.state().String(), Healthy: u.healthy(),
			Routes: routes[name], Endpoints: u.endpoints.statuses(eps, weights), LastUnreached: u.lastUnreached.Load(),
		}
		if err != nil {
			cs.ResolverError = err.Error()
		}
		out = append(out, cs)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// handlePprof serves Go's profiler at /debug/pprof/ on mux.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
