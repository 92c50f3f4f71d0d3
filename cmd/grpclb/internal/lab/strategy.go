package lab

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpcdns "google.golang.org/grpc/resolver/dns"

	_ "google.golang.org/grpc/balancer/leastrequest" // least_request_experimental
	_ "google.golang.org/grpc/balancer/ringhash"     // ring_hash_experimental

	"github.com/grpclb/grpclb"
	_ "github.com/grpclb/grpclb/balancer/outlier" // outlier_ejection
	_ "github.com/grpclb/grpclb/balancer/p2c"     // p2c_ewma
	_ "github.com/grpclb/grpclb/balancer/pool"    // the "pool" policy
	_ "github.com/grpclb/grpclb/balancer/wrr"     // wrr
	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/pool"
	"github.com/grpclb/grpclb/resolver/dnspoll"
	"github.com/grpclb/grpclb/server"
)

// Strategy is one way of reaching the service: how the backends are run
// and how the client dials them.
type Strategy struct {
	Name string
	Doc  string
	// ServerOptions for every backend; nil means grpc-go's defaults.
	ServerOptions func(p Params) ([]grpc.ServerOption, error)
	// Dial builds the client for the world.
	Dial func(w *World, p Params) (Client, error)
	// Global applies a process-wide setting for the run and returns its
	// undo. The runner calls it only while no client exists.
	Global func(p Params) (undo func())
	// MinDuration is the shortest run that shows what the strategy does.
	MinDuration time.Duration
	// PickupBound is how soon a backend that joins must get its first call
	// (0: the strategy makes no such promise).
	PickupBound func(p Params) time.Duration
	// Registry, when set, starts the registry the world keeps in step with
	// its backends; Dial can use w.Registry.target().
	Registry func(p Params) (registry, error)
	// Requires says what the strategy needs that a run may lack (an
	// outside server); scenarios skip it from their defaults then.
	Requires func(p Params) error
	// Baseline runs the scenario without its fault (World.Baseline), as
	// the reference for the other strategies.
	Baseline bool
}

// Client is what a strategy dials: a *grpc.ClientConn, or anything else
// generated clients can use, such as a pool of ClientConns.
type Client interface {
	grpc.ClientConnInterface
	Close() error
}

const roundRobinConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

var insecureCreds = grpc.WithTransportCredentials(insecure.NewCredentials())

func dialDNS(scheme string, extra ...grpc.DialOption) func(w *World, p Params) (Client, error) {
	return func(w *World, p Params) (Client, error) {
		target := fmt.Sprintf("%s://%s/%s", scheme, w.DNS.Addr, w.Target())
		opts := append([]grpc.DialOption{insecureCreds, grpc.WithDefaultServiceConfig(roundRobinConfig)}, extra...)
		return newClient(target, opts...)
	}
}

// dialRegistry dials the world's registry with round_robin.
func dialRegistry(w *World, p Params) (Client, error) {
	opts := append([]grpc.DialOption{insecureCreds, grpc.WithResolvers(w.Registry.resolver()),
		grpc.WithDefaultServiceConfig(roundRobinConfig)}, w.Registry.dialOptions()...)
	return newClient(w.Registry.target(), opts...)
}

// pollResolver is dnspoll at the lab's poll interval, not logging.
func pollResolver(p Params) grpc.DialOption {
	return grpc.WithResolvers(dnspoll.NewBuilder(dnspoll.Options{Interval: p.PollInterval, MinInterval: min(p.PollInterval, time.Second), Logger: quiet}))
}

// pollTarget is the world's service through dnspoll and the world's DNS
// server.
func pollTarget(w *World) string {
	return fmt.Sprintf("%s://%s/%s", dnspoll.Scheme, w.DNS.Addr, w.Target())
}

// pollPickup is how soon dnspoll finds a backend that joins: within its
// jittered interval, and a second.
func pollPickup(p Params) time.Duration {
	return p.PollInterval + time.Duration(float64(p.PollInterval)*dnspoll.DefaultJitter) + time.Second
}

// lbConfig is the service config whose loadBalancingConfig is policy.
func lbConfig(policy string) string { return `{"loadBalancingConfig":[` + policy + `]}` }

// dialPoll dials through dnspoll (the lab's poll interval) with a service
// config.
func dialPoll(serviceConfig string) func(w *World, p Params) (Client, error) {
	return func(w *World, p Params) (Client, error) {
		return newClient(pollTarget(w), insecureCreds, pollResolver(p), grpc.WithDefaultServiceConfig(serviceConfig))
	}
}

// polled is the strategy name that dials through dnspoll with policy, a
// loadBalancingConfig entry.
func polled(name, doc, policy string) Strategy {
	return Strategy{Name: name, Doc: doc, Dial: dialPoll(lbConfig(policy))}
}

// hedgedClient is a ClientConn whose calls go through a Hedger, whose
// figures the run reports.
type hedgedClient struct {
	*grpc.ClientConn
	h *hedge.Hedger
}

// Extra reports the share of extra attempts and of calls won by a hedge.
func (c hedgedClient) Extra() map[string]float64 {
	st := c.h.Stats()
	calls := float64(max(1, st.Calls))
	return map[string]float64{
		"hedge_extra_load_pct": 100 * float64(st.ExtraAttempts) / calls,
		"hedge_wins_pct":       100 * float64(st.HedgeWins) / calls,
		"hedge_denied":         float64(st.BudgetDenied),
	}
}

// dialHedged dials through dnspoll with a service config, hedging Echo.
func dialHedged(serviceConfig string) func(w *World, p Params) (Client, error) {
	return func(w *World, p Params) (Client, error) {
		h, err := hedge.New(hedge.Methods("/grpclb.testbed.v1.Echo/*"))
		if err != nil {
			return nil, err
		}
		cc, err := grpc.NewClient(pollTarget(w), insecureCreds, pollResolver(p),
			grpc.WithDefaultServiceConfig(serviceConfig), grpc.WithUnaryInterceptor(h.UnaryClientInterceptor()))
		if err != nil {
			return nil, err
		}
		return hedgedClient{cc, h}, nil
	}
}

func maxAgeOptions(p Params) ([]grpc.ServerOption, error) {
	return server.Options(server.Config{MaxConnectionAge: p.MaxAge, MaxConnectionAgeGrace: p.MaxAgeGrace})
}

func maxAgeBound(p Params) time.Duration {
	return p.MaxAge + p.MaxAge/10 + p.MaxAgeGrace + time.Second // age with grpc-go's +10% jitter, grace, a second
}

// grpcDNSFloor is grpc-go's default minimum interval between two lookups
// of its dns resolver.
const grpcDNSFloor = 30 * time.Second

// newClient is grpc.NewClient returning a Client (a nil *grpc.ClientConn
// must not become a non-nil interface).
func newClient(target string, opts ...grpc.DialOption) (Client, error) {
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	return cc, nil
}

// vipConnections is how many connections the VIP pool strategies open.
const vipConnections = 8

var strategies = []Strategy{
	{
		Name: "vip+pick_first",
		Doc:  "one address (an L4 VIP such as a ClusterIP) and grpc-go's default pick_first",
		Dial: func(w *World, p Params) (Client, error) {
			return newClient("passthrough:///"+w.VIP.Addr, insecureCreds)
		},
	},
	{
		Name:     "healthy+round_robin",
		Doc:      "the reference: dns:/// + round_robin with the scenario's fault left out (no slow backend)",
		Dial:     dialDNS("dns"),
		Baseline: true,
	},
	{
		Name: "dns+least_request",
		Doc:  "dns:/// + grpc-go's least_request_experimental (two choices, sampled with replacement)",
		Dial: func(w *World, p Params) (Client, error) {
			return dialDNS("dns", grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"least_request_experimental":{"choiceCount":2}}]}`))(w, p)
		},
	},
	{
		Name: "dns+p2c_ewma",
		Doc:  "dns:/// + grpclb's p2c_ewma: two distinct random backends, the clearly cheaper by EWMA latency × load, alike ones taking turns, stale ones probed",
		Dial: func(w *World, p Params) (Client, error) {
			return dialDNS("dns", grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"p2c_ewma":{}}]}`))(w, p)
		},
	},
	polled("dnspoll+consistent_hash", "dnspoll + grpclb's consistent_hash, bounded loads off, key from the call's context",
		`{"consistent_hash":{"loadFactor":0}}`),
	polled("dnspoll+consistent_hash+bounded", "dnspoll + grpclb's consistent_hash with bounded loads (loadFactor 1.25)",
		`{"consistent_hash":{"loadFactor":1.25}}`),
	polled("dnspoll+outlier+round_robin",
		"dnspoll + grpclb's outlier_ejection (failure percentage over 20%, 500ms interval, 10s base ejection) over round_robin",
		`{"outlier_ejection":{"interval":"500ms","baseEjectionTime":"10s",`+
			`"failurePercentage":{"threshold":20,"minimumHosts":2,"requestVolume":10},"childPolicy":[{"round_robin":{}}]}}`),
	{
		Name: "dnspoll+round_robin+hedge",
		Doc:  "dnspoll + round_robin, Echo hedged by package hedge (adaptive delay at the p95, 10% budget)",
		Dial: dialHedged(roundRobinConfig),
	},
	{
		Name: "dnspoll+p2c_ewma+hedge",
		Doc:  "dnspoll + p2c_ewma, Echo hedged by package hedge (adaptive delay at the p95, 10% budget)",
		Dial: dialHedged(lbConfig(`{"p2c_ewma":{}}`)),
	},
	polled("dnspoll+wrr+slowstart", "dnspoll + grpclb's wrr with slowStart (8s window, from 10%)",
		`{"wrr":{"slowStart":{"window":"8s","minWeightPercent":10}}}`),
	polled("dnspoll+p2c_ewma", "dnspoll + grpclb's p2c_ewma, no slow start", `{"p2c_ewma":{}}`),
	polled("dnspoll+p2c_ewma+slowstart", "dnspoll + grpclb's p2c_ewma with slowStart (8s window, from 10%)",
		`{"p2c_ewma":{"slowStart":{"window":"8s","minWeightPercent":10}}}`),
	polled("dnspoll+ring_hash", "dnspoll + grpc-go's ring_hash_experimental, key in the x-lab-key header",
		`{"ring_hash_experimental":{"requestHashHeader":"x-lab-key"}}`),
	{
		Name: "vip+pool",
		Doc:  fmt.Sprintf("the VIP with grpclb's pool policy: %d connections, calls round robin over them", vipConnections),
		Dial: func(w *World, p Params) (Client, error) {
			return newClient("passthrough:///"+w.VIP.Addr, insecureCreds, grpc.WithDefaultServiceConfig(
				fmt.Sprintf(`{"loadBalancingConfig":[{"pool":{"connections":%d}}]}`, vipConnections)))
		},
	},
	{
		Name: "vip+ccpool",
		Doc:  fmt.Sprintf("the VIP through grpclb's pool package: %d ClientConns behind one grpc.ClientConnInterface", vipConnections),
		Dial: func(w *World, p Params) (Client, error) {
			return pool.Dial("passthrough:///"+w.VIP.Addr, vipConnections, insecureCreds)
		},
	},
	{
		Name: "dns+round_robin",
		Doc:  "dns:/// (grpc-go's resolver) listing every backend, with round_robin",
		Dial: dialDNS("dns"),
	},
	{
		Name:          "dns+maxage",
		Doc:           "dns:/// + round_robin, servers with MaxConnectionAge (grpc-go's 30s re-resolution floor left as it is)",
		ServerOptions: maxAgeOptions,
		Dial:          dialDNS("dns"),
		MinDuration:   grpcDNSFloor + 6*time.Second,
		PickupBound:   func(p Params) time.Duration { return max(grpcDNSFloor, maxAgeBound(p)) + time.Second },
	},
	{
		Name:          "dns+maxage+minres",
		Doc:           "as dns+maxage, with grpc-go's re-resolution floor lowered to 1s (dns.SetMinResolutionInterval, process-wide)",
		ServerOptions: maxAgeOptions,
		Dial:          dialDNS("dns"),
		Global: func(Params) func() {
			grpcdns.SetMinResolutionInterval(time.Second)
			return func() { grpcdns.SetMinResolutionInterval(grpcDNSFloor) }
		},
		PickupBound: maxAgeBound,
	},
	{
		Name:        "etcd+round_robin",
		Doc:         "an etcd process (etcd-server) where every backend registers itself (register/etcd), followed by resolver/etcd's watch, with round_robin",
		Registry:    func(Params) (registry, error) { return startEtcdRegistry() },
		Requires:    needBinary("etcd"),
		Dial:        dialRegistry,
		PickupBound: func(Params) time.Duration { return 2 * time.Second },
	},
	xdsStrategy,
	{
		Name: "consul+round_robin",
		Doc:  "the Consul agent named by --consul, backends registered with a gRPC health check (register/consul), followed by resolver/consul's blocking queries",
		Registry: func(p Params) (registry, error) {
			return startConsulRegistry(p.ConsulAddr)
		},
		Requires: func(p Params) error {
			if p.ConsulAddr == "" {
				return errors.New("consul+round_robin needs --consul HOST:PORT, a Consul agent's HTTP address")
			}
			return nil
		},
		Dial:        dialRegistry,
		PickupBound: func(Params) time.Duration { return 3 * time.Second },
	},
	{
		Name: "grpclb.NewClient",
		Doc: "grpclb.NewClient over dnspoll: p2c_ewma, client-side health checking, retries on UNAVAILABLE for the " +
			"(idempotent) Echo method, keepalive",
		Dial: func(w *World, p Params) (Client, error) {
			cc, err := grpclb.NewClient(pollTarget(w), grpclb.WithDialOptions(insecureCreds, pollResolver(p)),
				grpclb.WithIdempotent("grpclb.testbed.v1.Echo"))
			if err != nil {
				return nil, err
			}
			return cc, nil
		},
		PickupBound: pollPickup,
	},
	{
		Name:     "proxy+grpclb",
		Doc:      "one client connection to grpclb's proxy on its grpc data plane (--data-plane=grpc: a grpc-go server and client stream per call), which balances each call over the backends with round_robin",
		Registry: func(Params) (registry, error) { return startFront("grpclb-proxy", startGRPCLB("grpc")) },
		Dial:     dialFront,
	},
	{
		Name: "proxy+grpclb-frames",
		Doc: "one client connection to grpclb's proxy on its default, frame-level data plane (--data-plane=frames): " +
			"HTTP/2 frames relayed to the backends without grpc-go's streams, each call balanced with round_robin",
		Registry: func(Params) (registry, error) { return startFront("grpclb-frames", startGRPCLB("frames")) },
		Dial:     dialFront,
	},
	{
		Name:     "proxy+nginx",
		Doc:      "one client connection to nginx (grpc_pass, upstream keepalive, 1 worker), round robin over the backends",
		Registry: func(Params) (registry, error) { return startFront("nginx", startNginx) },
		Requires: needBinary("nginx"),
		Dial:     dialFront,
	},
	{
		Name:     "proxy+haproxy",
		Doc:      "one client connection to HAProxy (proto h2 both ways, 1 thread), round robin over the backends",
		Registry: func(Params) (registry, error) { return startFront("haproxy", startHAProxy) },
		Requires: needBinary("haproxy"),
		Dial:     dialFront,
	},
	{
		Name: "kubernetes+round_robin",
		Doc: "a Service's EndpointSlice kept in step with the backends, followed by resolver/kube's watch, with round_robin " +
			"(the cluster of --kubeconfig, else a kube-apiserver the lab starts)",
		Registry:    func(p Params) (registry, error) { return startKubeRegistry(p) },
		Requires:    kubeAvailable,
		Dial:        dialRegistry,
		PickupBound: func(Params) time.Duration { return time.Second },
	},
	{
		Name:        "dnspoll+round_robin",
		Doc:         "dnspoll:/// (grpclb's resolver, re-resolving on a jittered interval) with round_robin",
		Dial:        dialPoll(roundRobinConfig),
		PickupBound: pollPickup,
	},
}

// StrategyNames lists every strategy.
func StrategyNames() []string { return namesOf(strategies) }

func strategyByName(name string) (Strategy, bool) { return byName(strategies, name) }

func (s Strategy) label() string { return s.Name }
