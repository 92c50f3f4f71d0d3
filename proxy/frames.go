package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// Frames is grpclb proxy on its frame-level data plane, the command's
// default (`grpclb proxy --data-plane=frames`): each call's HTTP/2 frames are
// relayed between the client's connection and a backend connection
// (headers decoded once to route, DATA copied, flow control end to end)
// instead of running a grpc-go server stream and client stream per call.
// On this project's machine it relays as many calls per second as
// HAProxy, 1.2-1.7 times as many as Proxy, for under half of Proxy's CPU,
// and messages cross it as they were sent (compressed ones are never
// decompressed).
//
// It serves what a Config says about the listener (h2c or TLS, mutual TLS
// too), routes, clusters (target, policy, TLS to the backends), the
// limits on streams per connection, header size, connections, idle and
// handshake time, connection ageing, route timeouts, reflection (from a
// cluster, or of its own services) and the drain; grpc.health.v1 follows
// the clusters as in Proxy, and so do /readyz and /clusters on its admin
// handler. Message size limits bound messages as they cross (compressed,
// if they are). limits.maxBufferedBytes bounds the bytes it holds by
// flow control: connection windows beyond HTTP/2's initial 64 KiB are
// lent from it, so it holds at most the budget plus 64 KiB per connection
// (and one connection at most its 16 MiB window). Options.AccessLog gets
// Proxy's record per call, and /metrics Proxy's series. Idempotent
// routes retry or hedge as in Proxy, with one limit: a request is held
// whole to be sent again only up to 1 MiB (a larger one is refused with
// RESOURCE_EXHAUSTED). Reload applies a new config as Proxy.Reload does.
// A cluster's policy is its loadBalancingConfig: NewFrames refuses a
// service config with more (methodConfig), which Proxy applies.
type Frames struct {
	relay  *framerelay.Relay
	static Config                 // the config it started with, defaults filled in
	cfg    atomic.Pointer[Config] // the config in use, defaults filled in
	// tls is the listener's TLS config (nil for h2c); its certificate is
	// tlsCurrent's, which a reload replaces.
	tls        *tls.Config
	tlsCurrent atomic.Pointer[tls.Config]
	opts       Options
	metrics    *metrics
	reloadMu   sync.Mutex
	hedgers    atomic.Pointer[hedgers] // of the config in use
}

// NewFrames validates cfg, reads its certificate files and builds its
// clusters. Serve starts it; Drain or Stop end it.
func NewFrames(cfg *Config, opts Options) (*Frames, error) {
	if err := cfg.validate(opts.Resolvers); err != nil {
		return nil, err
	}
	if len(opts.ServerOptions) > 0 || len(opts.DialOptions) > 0 {
		return nil, errors.New("proxy: the frames data plane runs no grpc.Server or grpc.ClientConn: ServerOptions and DialOptions do not apply")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	plan, err := framesConfig(cfg, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	rc := plan.relay
	rc.Logger = opts.Logger
	m := newMetrics()
	rc.Observer = newFramesObserver(m, rc, plan.routeLabels, opts.AccessLog)
	r, err := framerelay.NewRouted(rc)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	f := &Frames{relay: r, static: cfg.withDefaults(), opts: opts, metrics: m}
	f.cfg.Store(&f.static)
	f.hedgers.Store(&plan.hedgers)
	m.reg.MustRegister(framesCollector{r}, hedgeCollector{func() hedgers { return *f.hedgers.Load() }})
	m.loadedAt.SetToCurrentTime()
	if plan.listenerTLS != nil {
		f.tlsCurrent.Store(plan.listenerTLS)
		f.tls = &tls.Config{
			NextProtos: plan.listenerTLS.NextProtos,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return f.tlsCurrent.Load(), nil
			},
		}
	}
	return f, nil
}

// Reload swaps in a new config atomically, as Proxy.Reload does: calls
// that start after it use the new routes and clusters; calls in flight
// finish on the clusters they started on, which are closed after their
// last call. Clusters whose target, policy, TLS files and limits did not
// change keep their connections. The listener's certificate, key and
// client CA are re-read (new connections use them); other listener
// settings (addresses, limits, connection ageing, TLS on or off, local
// reflection) need a restart and are logged as ignored. On error the
// config in use is kept.
func (f *Frames) Reload(cfg *Config) error { return f.metrics.reloaded(f.reload(cfg)) }

func (f *Frames) reload(cfg *Config) error {
	if err := cfg.validate(f.opts.Resolvers); err != nil {
		return err
	}
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	plan, err := framesConfig(cfg, f.opts, *f.hedgers.Load())
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	rc := plan.relay
	rc.Observer = newFramesObserver(f.metrics, rc, plan.routeLabels, f.opts.AccessLog)
	if err := f.relay.Reload(rc); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	d := cfg.withDefaults()
	ignored := restartOnly(f.static, d)
	if d.Reflection.Local != f.static.Reflection.Local {
		ignored = append(ignored, "reflection (the proxy's own)")
	}
	for _, what := range ignored {
		f.opts.Logger.Warn("proxy: reload: this setting needs a restart; the running value is kept", "setting", what)
	}
	if plan.listenerTLS != nil && f.tls != nil {
		f.tlsCurrent.Store(plan.listenerTLS)
	}
	f.cfg.Store(&d)
	f.hedgers.Store(&plan.hedgers)
	f.metrics.loadedAt.SetToCurrentTime()
	f.opts.Logger.Info("proxy: config reloaded", "routes", len(d.Routes), "clusters", len(d.Clusters))
	return nil
}

// framesPlan is how the frames data plane serves a proxy config.
type framesPlan struct {
	relay       framerelay.Config // with the certificate files read
	listenerTLS *tls.Config       // nil for h2c
	// routeLabels is the route label of each of relay.Routes in the
	// metrics: the config route's, or the service of a reflection route
	// added for reflection.cluster.
	routeLabels []string
	hedgers     hedgers // of the hedged routes
}

// framesConfig plans a valid proxy config for the relay, with the Hedgers
// of old (the config in use) that it can keep: an error names the
// settings the relay cannot honour.
func framesConfig(cfg *Config, opts Options, old hedgers) (plan framesPlan, err error) {
	rc := framerelay.Config{Clusters: map[string]framerelay.Cluster{}}
	plan.hedgers = hedgers{}
	d := cfg.withDefaults()
	if cfg.TLS != nil {
		if plan.listenerTLS, err = cfg.TLS.Config(); err != nil {
			return plan, err
		}
	}
	for i, r := range cfg.Routes {
		rt := framerelay.Route{Prefix: r.MethodPrefix(), Cluster: r.Cluster, Timeout: time.Duration(r.Timeout)}
		switch {
		case r.Idempotent && r.Hedge != nil:
			if rt.Hedge, err = plan.hedgers.forRoute(r, old); err != nil {
				return plan, fmt.Errorf("routes[%d].hedge: %w", i, err)
			}
		case r.Idempotent:
			rt.Retry = framesRetry(r.Retry)
		}
		rc.Routes = append(rc.Routes, rt)
		plan.routeLabels = append(plan.routeLabels, r.label())
	}
	rc.Reflection = cfg.Reflection.Local
	if name := cfg.Reflection.Cluster; name != "" {
		for _, svc := range reflectionServices {
			prefix := "/" + svc + "/"
			if !slices.ContainsFunc(rc.Routes, func(r framerelay.Route) bool { return strings.HasPrefix(r.Prefix, prefix) }) {
				rc.Routes = append(rc.Routes, framerelay.Route{Prefix: prefix, Cluster: name})
				plan.routeLabels = append(plan.routeLabels, svc)
			}
		}
	}
	for name, cl := range cfg.Clusters {
		lb, err := lbConfigList(cl.Policy)
		if err != nil {
			return plan, fmt.Errorf("clusters.%s.policy: %w", name, err)
		}
		b, target := resolverFor(cl.Target, opts.Resolvers)
		spec := framerelay.Cluster{Target: target, LBConfig: lb, Resolver: b}
		if k := cl.Keepalive; k != nil {
			spec.Keepalive = framerelay.Keepalive{Time: time.Duration(k.Time), Timeout: time.Duration(k.Timeout)}
		}
		var material []byte
		if cl.TLS != nil {
			if spec.TLS, material, err = upstreamTLSConfig(cl.TLS); err != nil {
				return plan, fmt.Errorf("clusters.%s.%w", name, err)
			}
		}
		spec.Key = fmt.Sprintf("%x", upstreamKey(cl, d.Limits, material))
		rc.Clusters[name] = spec
	}
	rc.Limits = framerelay.Limits{
		MaxRequestBytes:       int64(d.Limits.MaxRequestBytes),
		MaxResponseBytes:      int64(d.Limits.MaxResponseBytes),
		MaxConcurrentStreams:  cfg.Limits.MaxConcurrentStreams,
		MaxHeaderListBytes:    cfg.Limits.MaxHeaderListBytes,
		MaxConnections:        cfg.Connections.Max,
		IdleTimeout:           time.Duration(cfg.Connections.IdleTimeout),
		HandshakeTimeout:      time.Duration(cfg.Connections.HandshakeTimeout),
		MaxConnectionAge:      time.Duration(cfg.Connections.MaxAge),
		MaxConnectionAgeGrace: time.Duration(cfg.Connections.MaxAgeGrace),
		MaxBufferedBytes:      d.Limits.MaxBufferedBytes,
	}
	plan.relay = rc
	return plan, nil
}

// framesRetry is the relay's form of an idempotent route's retry policy
// (DefaultRetryPolicy if p is nil).
func framesRetry(p *RetryPolicy) *framerelay.RetryPolicy {
	d := DefaultRetryPolicy()
	if p != nil {
		d = p.withDefaults()
	}
	out := &framerelay.RetryPolicy{MaxAttempts: d.MaxAttempts, InitialBackoff: time.Duration(d.InitialBackoff), MaxBackoff: time.Duration(d.MaxBackoff), BackoffMultiplier: d.BackoffMultiplier}
	for _, c := range d.RetryableStatusCodes {
		out.Codes = append(out.Codes, codes.Code(c))
	}
	return out
}

// lbConfigList is the loadBalancingConfig list of a cluster's policy; a
// service config with anything else in it is refused.
func lbConfigList(p Policy) (string, error) {
	sc, err := p.ServiceConfig()
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sc), &fields); err != nil {
		return "", err
	}
	list, ok := fields["loadBalancingConfig"]
	if !ok || len(fields) != 1 {
		return "", errors.New("the frames data plane reads only a service config's loadBalancingConfig (the grpc data plane takes its methodConfig too)")
	}
	return string(list), nil
}

// CheckFrames reports whether NewFrames would take cfg, a valid config
// (see LoadConfig): whether the frames data plane honours all of it. It
// reads the certificate files, and builds no cluster.
func CheckFrames(cfg *Config) error {
	_, err := framesConfig(cfg, Options{}, nil)
	return err
}

// Serve takes client connections on lis (over TLS if the config says so)
// until Drain or Stop.
func (f *Frames) Serve(lis net.Listener) error {
	if f.tls != nil {
		lis = tls.NewListener(lis, f.tls)
	}
	return f.relay.Serve(lis)
}

// Drain takes the proxy out of service without failing calls: health
// NOT_SERVING and /readyz 503, the config's drain grace, then GOAWAY to
// every client while calls in flight finish (at most the drain timeout,
// or until ctx is done); then everything is closed.
func (f *Frames) Drain(ctx context.Context) error {
	d := f.cfg.Load().Drain
	grace, timeout := max(time.Duration(d.Grace), 0), time.Duration(d.Timeout)
	f.opts.Logger.Info("proxy: draining", "grace", grace, "timeout", timeout)
	ctx, cancel := context.WithTimeout(ctx, grace+timeout)
	defer cancel()
	if err := f.relay.Drain(ctx, grace); err != nil {
		return fmt.Errorf("proxy: drain: calls in flight were cut: %w", err)
	}
	return nil
}

// Stop closes every connection at once.
func (f *Frames) Stop() { f.relay.Close() }

// Config returns the config in use, with its defaults filled in, as
// /config shows it.
func (f *Frames) Config() Config { return *f.cfg.Load() }

// Clusters returns the clusters of the config in use, by name, as
// /clusters shows them: Proxy's ClusterStatus, where State is the
// cluster's policy's and Healthy is READY (the relay has a backend to
// offer), and each endpoint's Subchannels counts the relay's connections
// to it. A cluster that no route (nor reflection.cluster) sends calls to
// is not built (no resolver, no connection) and shows as IDLE, not
// healthy, without endpoints.
func (f *Frames) Clusters() []ClusterStatus {
	cfg := f.cfg.Load()
	routes := map[string][]string{}
	for _, r := range cfg.Routes {
		routes[r.Cluster] = append(routes[r.Cluster], r.label())
	}
	var out []ClusterStatus
	built := map[string]bool{}
	for _, cs := range f.relay.Clusters() {
		built[cs.Name] = true
		st := ClusterStatus{Name: cs.Name, Target: cs.Target, State: cs.State.String(), Healthy: cs.State == connectivity.Ready, Routes: routes[cs.Name], Endpoints: []EndpointStatus{}}
		if cl := cfg.Clusters[cs.Name]; cl != nil {
			st.Target = cl.Target
			st.Policy, _ = cl.Policy.ServiceConfig()
		}
		for _, e := range cs.Endpoints {
			es := EndpointStatus{Address: e.Address, Weight: e.Weight, Subchannels: e.SubConns, InFlight: e.InFlight}
			if e.SubConns > 0 {
				es.State = e.State.String()
			}
			st.Endpoints = append(st.Endpoints, es)
		}
		if cs.ResolverError != nil {
			st.ResolverError = cs.ResolverError.Error()
		}
		if !cs.UnreachedAt.IsZero() {
			st.LastUnreached = &Unreached{At: cs.UnreachedAt, Reason: cs.Unreached}
		}
		out = append(out, st)
	}
	for name, cl := range cfg.Clusters {
		if !built[name] {
			policy, _ := cl.Policy.ServiceConfig()
			out = append(out, ClusterStatus{Name: name, Target: cl.Target, Policy: policy, State: connectivity.Idle.String(), Endpoints: []EndpointStatus{}})
		}
	}
	slices.SortFunc(out, func(a, b ClusterStatus) int { return cmpString(a.Name, b.Name) })
	return out
}

// AdminHandler serves /metrics (Proxy's call series, by route, cluster
// and upstream endpoint, with build_info and the clusters' states and
// endpoints), /healthz, /readyz, /clusters (see Clusters), /config and,
// with Options.Pprof, /debug/pprof/. It is plain HTTP without
// authentication: keep it on loopback.
func (f *Frames) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := f.relay.Ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, f.Clusters()) })
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, f.cfg.Load()) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(f.metrics.reg, promhttp.HandlerOpts{Registry: f.metrics.reg}))
	if f.opts.Pprof {
		handlePprof(mux)
	}
	return mux
}
