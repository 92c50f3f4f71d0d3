package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/proxy/internal/ownreflection"
	"github.com/grpclb/grpclb/server"
)

// Options are the parts of a proxy that are code, not config.
type Options struct {
	// Logger receives the proxy's own events (reloads, drains). Default
	// slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one Info record per call: method,
	// route, cluster, upstream, code, duration, bytes each way and the
	// client's address. Nil turns access logs off.
	AccessLog *slog.Logger
	// ServerOptions are added to the proxy's grpc.NewServer options
	// (interceptors do not see proxied calls' messages, which are raw).
	ServerOptions []grpc.ServerOption
	// DialOptions are added to every cluster's grpc.NewClient options.
	// Give resolver builders in Resolvers, not with grpc.WithResolvers
	// here: the proxy wraps each cluster's resolver to follow it.
	DialOptions []grpc.DialOption
	// Resolvers are used for the clusters' targets in place of the
	// registered builders of the same schemes (a kubernetes builder with a
	// kubeconfig, say).
	Resolvers []resolver.Builder
	// Pprof adds Go's profiler, /debug/pprof/, to AdminHandler. It shows
	// the process's internals and costs CPU while a profile runs.
	Pprof bool
}

// Proxy is an L7 gRPC proxy: a grpc.Server that forwards each call, as raw
// frames, to the cluster its route names, balanced per call by the
// cluster's ClientConn.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	static  Config // the settings fixed at New: listener, TLS, limits
	srv     *grpc.Server
	health  *health.Server
	local   *localServices
	tls     *listenerTLS // nil: plaintext
	metrics *metrics
	codec   rawCodec
	budget  *budgetPool // the buffers of messages in flight, both ways
	workers *requestWorkers
	// forceCodec makes upstream calls use codec, made once: the option
	// costs an allocation.
	forceCodec grpc.CallOption

	state         atomic.Pointer[state]
	draining      atomic.Bool
	clusterHealth clusterHealth
	// stopping is cancelled when the server stops: it ends the local
	// streams (health Watch), which would otherwise hold a graceful stop
	// until its timeout.
	stopping       context.Context
	cancelStopping context.CancelFunc

	mu      sync.Mutex // serialises Reload and the stop
	stopped bool
	closing sync.WaitGroup // upstream ClientConns being closed
}

// state is one config version: routes bound to the clusters' ClientConns.
type state struct {
	cfg        Config
	routes     *routeTable
	upstreams  map[string]*upstream // by cluster name
	hedgers    hedgers
	reflection bool
}

// New validates cfg, dials its clusters and builds the gRPC server. Serve
// starts it; Drain, GracefulStop or Stop end it.
func New(cfg *Config, opts Options) (*Proxy, error) {
	if err := cfg.validate(opts.Resolvers); err != nil {
		return nil, err
	}
	d := cfg.withDefaults()
	p := &Proxy{
		opts:    opts,
		log:     opts.Logger,
		static:  d,
		health:  health.NewServer(),
		local:   newLocalServices(),
		metrics: newMetrics(),
		codec:   newRawCodec(),
	}
	p.budget = newBudgetPool(d.Limits.MaxBufferedBytes, p.metrics.budgetWait)
	p.metrics.registerBudget(p.budget)
	p.metrics.reg.MustRegister(clusterCollector{p}, hedgeCollector{func() hedgers {
		if st := p.state.Load(); st != nil {
			return st.hedgers
		}
		return nil
	}})
	if p.log == nil {
		p.log = slog.Default()
	}
	p.stopping, p.cancelStopping = context.WithCancel(context.Background())
	p.forceCodec = grpc.ForceCodecV2(p.codec)
	healthpb.RegisterHealthServer(p.local, p.health)
	ownreflection.Register(p.local)

	sopts, err := p.serverOptions(d)
	if err != nil {
		return nil, err
	}
	st, err := p.buildState(d, nil)
	if err != nil {
		return nil, err
	}
	p.srv = grpc.NewServer(sopts...)
	p.workers = newRequestWorkers(streamWorkers())
	p.apply(st, nil)
	return p, nil
}

func (p *Proxy) serverOptions(d Config) ([]grpc.ServerOption, error) {
	maxAge := time.Duration(d.Connections.MaxAge)
	if maxAge == 0 {
		maxAge = -1 // server.Config: negative turns ageing off
	}
	idle := max(time.Duration(d.Connections.IdleTimeout), 0) // negative: never
	sopts, err := server.Options(server.Config{
		MaxConnectionAge:      maxAge,
		MaxConnectionAgeGrace: time.Duration(d.Connections.MaxAgeGrace),
		MaxConnectionIdle:     idle,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	sopts = append(sopts,
		grpc.ForceServerCodecV2(p.codec),
		grpc.UnknownServiceHandler(p.handle),
		grpc.MaxRecvMsgSize(d.Limits.MaxRequestBytes),
		grpc.MaxSendMsgSize(d.Limits.MaxResponseBytes),
		grpc.MaxConcurrentStreams(d.Limits.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(d.Limits.MaxHeaderListBytes),
		grpc.ConnectionTimeout(time.Duration(d.Connections.HandshakeTimeout)),
		experimental.BufferPool(p.budget),
		// Fixed flow-control windows (grpc-go would grow them to 16 MiB):
		// what a client may send ahead of the proxy's reading is at most
		// 1 MiB a connection, so a connection held back by the buffer
		// budget reaches its cancellations within seconds.
		grpc.InitialWindowSize(flowWindow),
		grpc.InitialConnWindowSize(flowWindow),
		grpc.WaitForHandlers(true),
		// Handlers run on reused goroutines: a proxied call's stack is
		// deep, and growing a fresh goroutine's stack for each call costs
		// more than the call's own work.
		grpc.NumStreamWorkers(uint32(streamWorkers())),
	)
	if d.TLS != nil {
		tc, err := loadListenerTLS(d.TLS)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		p.tls = &listenerTLS{}
		p.tls.current.Store(tc)
		sopts = append(sopts, grpc.Creds(p.tls.creds()))
	}
	return append(sopts, p.opts.ServerOptions...), nil
}

// flowWindow is the HTTP/2 flow-control window of client connections and
// their streams.
const flowWindow = 1 << 20

// streamWorkers is the number of goroutines kept to run calls (and as
// many for their request sides): enough for the calls in flight of a busy
// proxy, beyond which calls get fresh goroutines.
func streamWorkers() int { return min(32*runtime.GOMAXPROCS(0), 1024) }

// buildState dials the clusters of cfg, reusing those of old that did not
// change.
func (p *Proxy) buildState(cfg Config, old *state) (_ *state, err error) {
	st := &state{cfg: cfg, upstreams: make(map[string]*upstream, len(cfg.Clusters)), hedgers: hedgers{}, reflection: cfg.Reflection.Local}
	reusable := map[[sha256.Size]byte]*upstream{}
	var oldHedgers hedgers
	if old != nil {
		for _, u := range old.upstreams {
			reusable[u.key] = u
		}
		oldHedgers = old.hedgers
	}
	var taken []*upstream
	defer func() {
		if err != nil {
			for _, u := range taken {
				u.release()
			}
		}
	}()
	names := make([]string, 0, len(cfg.Clusters))
	for name := range cfg.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		spec, err := prepareUpstream(name, cfg.Clusters[name], cfg.Limits)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		if u := reusable[spec.key]; u != nil && u.acquire() {
			taken = append(taken, u)
			st.upstreams[name] = u
			continue
		}
		u, err := spec.dial(append([]grpc.DialOption{experimental.WithBufferPool(p.budget)}, p.opts.DialOptions...), p.opts.Resolvers, p.metrics.forgetEndpoints)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		u.idle = p.closeUpstream
		u.refs.Store(1)
		u.watch(p.updateHealth)
		taken = append(taken, u)
		st.upstreams[name] = u
	}
	routes := make([]*route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		prefix, _ := r.match() // validated
		unary, err := newUnaryPolicy(r, st.hedgers, oldHedgers)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.label(), err)
		}
		routes = append(routes, &route{
			unary:    unary,
			label:    r.label(),
			prefix:   prefix,
			upstream: st.upstreams[r.Cluster],
			metrics:  p.metrics.forRoute(r.label(), r.Cluster),
			timeout:  time.Duration(r.Timeout),
		})
	}
	routes = append(routes, p.reflectionRoutes(cfg, st, routes)...)
	st.routes = newRouteTable(routes)
	return st, nil
}

// apply makes st the config in use and lets go of old's clusters.
func (p *Proxy) apply(st, old *state) {
	p.state.Store(st)
	p.updateHealth()
	if old != nil {
		for _, s := range old.routes.Services() {
			if !st.routes.Has(s) {
				p.health.SetServingStatus(s, healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
			}
		}
		for _, u := range old.upstreams {
			u.release()
		}
	}
	p.metrics.loadedAt.SetToCurrentTime()
}

// closeUpstream closes a ClientConn whose last reference is gone. It runs
// on the goroutine of the last call, so it must not delay that call's
// status.
func (p *Proxy) closeUpstream(u *upstream) {
	p.closing.Add(1)
	go func() {
		defer p.closing.Done()
		_ = u.cc.Close()
		u.endpoints.forget()
		p.log.Debug("proxy: closed cluster connection", "cluster", u.name)
	}()
}

// Reload swaps in a new config atomically: calls that start after it use
// the new routes and clusters; calls in flight finish on the ClientConns
// they started on, which are closed after their last call. Clusters whose
// target, policy, TLS files and limits did not change keep their
// connections. The listener's certificate, key and client CA are re-read
// (new connections use them); other listener settings (addresses, limits,
// connection ageing, TLS on or off) need a restart and are logged as
// ignored. On error the config in use is kept.
func (p *Proxy) Reload(cfg *Config) error { return p.metrics.reloaded(p.reload(cfg)) }

func (p *Proxy) reload(cfg *Config) error {
	if err := cfg.validate(p.opts.Resolvers); err != nil {
		return err
	}
	d := cfg.withDefaults()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("proxy: reload after stop")
	}
	var tc *tls.Config
	if d.TLS != nil && p.tls != nil {
		c, err := loadListenerTLS(d.TLS)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		tc = c
	}
	old := p.state.Load()
	st, err := p.buildState(d, old)
	if err != nil {
		return err
	}
	for _, ch := range p.restartOnly(d) {
		p.log.Warn("proxy: reload: this setting needs a restart; the running value is kept", "setting", ch)
	}
	if tc != nil {
		p.tls.current.Store(tc)
	}
	p.apply(st, old)
	p.log.Info("proxy: config reloaded", "routes", len(d.Routes), "clusters", len(d.Clusters))
	return nil
}

// restartOnly lists the settings of d that differ from the running ones
// and cannot change without a restart.
func (p *Proxy) restartOnly(d Config) []string { return restartOnly(p.static, d) }

// restartOnly lists the settings of d that differ from s's, those a data
// plane fixes when it starts: listener, TLS on or off, limits,
// connections.
func restartOnly(s, d Config) []string {
	var out []string
	if d.Listen != s.Listen {
		out = append(out, "listen")
	}
	if d.Admin != s.Admin {
		out = append(out, "admin")
	}
	if (d.TLS == nil) != (s.TLS == nil) {
		out = append(out, "tls (on or off)")
	}
	if d.Limits != s.Limits {
		out = append(out, "limits")
	}
	if !reflect.DeepEqual(d.Connections, s.Connections) {
		out = append(out, "connections")
	}
	return out
}

// Serve accepts gRPC connections on lis until the proxy is stopped.
// Connections beyond connections.max are closed as soon as accepted.
func (p *Proxy) Serve(lis net.Listener) error {
	return p.srv.Serve(&limitListener{Listener: lis, max: int64(p.static.Connections.Max), refused: p.metrics.refused.Inc, open: &p.metrics.open})
}

// DrainConfig is the drain the config asks for: NOT_SERVING (and /readyz
// failing), the grace, then a graceful stop bounded by the timeout. Pass
// it with the proxy to server.Drain or server.DrainOnSignal.
func (p *Proxy) DrainConfig() server.DrainConfig {
	d := p.state.Load().cfg.Drain
	return server.DrainConfig{
		Health: p.health,
		OnNotServing: []func(context.Context) error{func(context.Context) error {
			p.draining.Store(true)
			return nil
		}},
		Grace:   time.Duration(d.Grace),
		Timeout: time.Duration(d.Timeout),
		Logger:  p.log,
	}
}

// Drain takes the proxy out of service without failing calls: health
// NOT_SERVING and /readyz 503, the grace, then no new connections while
// calls in flight finish (at most the drain timeout), then the clusters'
// connections are closed.
func (p *Proxy) Drain(ctx context.Context) error {
	return server.Drain(ctx, p, p.DrainConfig())
}

// GracefulStop stops accepting connections, waits for calls in flight and
// closes the clusters' connections (server.GracefulStopper).
func (p *Proxy) GracefulStop() { p.stop(p.srv.GracefulStop) }

// Stop closes every connection at once, failing calls in flight, and
// closes the clusters' connections (server.GracefulStopper).
func (p *Proxy) Stop() { p.stop(p.srv.Stop) }

// stop takes the proxy out of service, stops its server with stopServer
// and closes the clusters' connections.
func (p *Proxy) stop(stopServer func()) {
	p.draining.Store(true)
	p.health.Shutdown()
	p.cancelStopping()
	stopServer()
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		p.workers.stop() // no call runs: the server has stopped
		for _, u := range p.state.Load().upstreams {
			u.release()
		}
	}
	p.mu.Unlock()
	p.closing.Wait()
}

// Ready reports whether the proxy takes calls: a config is loaded, it is
// not draining and at least one cluster is healthy (see health.go).
func (p *Proxy) Ready() bool {
	ok, _ := p.readiness()
	return ok
}

// Registry is the proxy's private Prometheus registry, served by
// AdminHandler at /metrics; callers may register their own collectors.
func (p *Proxy) Registry() *prometheus.Registry { return p.metrics.reg }

// Config returns the config in use, defaults filled in.
func (p *Proxy) Config() Config { return p.state.Load().cfg }
