// Package balancertest is what the tests of grpclb's policies share.
//
// Build builds any registered gRPC balancer against a fake channel whose
// SubConns become READY on request, and hands back the picker it
// produces: to benchmark Pick of grpclb's policies and grpc-go's own
// (round_robin, least_request, ring_hash) in the same run, and to
// unit-test pickers.
//
// For end-to-end tests against real backends (internal/testbed fleets on
// loopback), StartFleet, Dial and WarmUp set up a fleet and a real gRPC
// client with a given service config; Tally, StartCallers and Workers drive
// calls or picks from one or many goroutines, and WaitAllServeAgain waits
// for every backend to be back in use. Waiting is done with internal/wait.
//
// For config tests, CheckParses, CheckRefuses, BuilderParses and FuzzParse
// run a policy's ParseConfig over tables of configs.
package balancertest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	estats "google.golang.org/grpc/experimental/stats"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/nometrics"
)

// ClientConn is a fake balancer.ClientConn. SubConns it creates become
// READY when Settle is called after they asked to connect.
type ClientConn struct {
	balancer.ClientConn // unimplemented methods panic

	mu       sync.Mutex
	subConns []*SubConn
	state    balancer.State
	updates  int
	connects chan struct{} // a SubConn asked to connect
}

// SubConn is a fake balancer.SubConn.
type SubConn struct {
	balancer.SubConn // unimplemented methods panic

	Addrs    []resolver.Address
	cc       *ClientConn
	listener func(balancer.SubConnState)
	health   func(balancer.SubConnState)
	connect  bool
	state    connectivity.State
	shutdown bool
}

// NewSubConn implements balancer.ClientConn.
func (c *ClientConn) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := &SubConn{Addrs: addrs, cc: c, listener: opts.StateListener, state: connectivity.Idle}
	c.subConns = append(c.subConns, sc)
	return sc, nil
}

// RemoveSubConn implements balancer.ClientConn.
func (c *ClientConn) RemoveSubConn(sc balancer.SubConn) { sc.Shutdown() }

// UpdateAddresses implements balancer.ClientConn.
func (c *ClientConn) UpdateAddresses(sc balancer.SubConn, addrs []resolver.Address) {
	sc.(*SubConn).Addrs = addrs
}

// UpdateState implements balancer.ClientConn.
func (c *ClientConn) UpdateState(s balancer.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = s
	c.updates++
}

// ResolveNow implements balancer.ClientConn.
func (c *ClientConn) ResolveNow(resolver.ResolveNowOptions) {}

// Target implements balancer.ClientConn.
func (c *ClientConn) Target() string { return "balancertest:///fake" }

// MetricsRecorder implements balancer.ClientConn.
func (c *ClientConn) MetricsRecorder() estats.MetricsRecorder { return nometrics.Recorder{} }

// State returns the last state the balancer reported.
func (c *ClientConn) State() balancer.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// SubConns returns every SubConn created so far.
func (c *ClientConn) SubConns() []*SubConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*SubConn(nil), c.subConns...)
}

// SubConnOf returns the live SubConn of the endpoint at addr (its first
// address), failing the test if there is none.
func (c *ClientConn) SubConnOf(t testing.TB, addr string) *SubConn {
	t.Helper()
	for _, sc := range c.SubConns() {
		if sc.Addrs[0].Addr == addr && !sc.IsShutdown() {
			return sc
		}
	}
	t.Fatalf("no SubConn for %s", addr)
	return nil
}

// Settle makes every SubConn that asked to connect READY (and healthy),
// repeating until no SubConn is waiting, and returns how many it moved.
func (c *ClientConn) Settle() int {
	moved := 0
	for {
		var todo []*SubConn
		c.mu.Lock()
		for _, sc := range c.subConns {
			if sc.connect && sc.state != connectivity.Ready && !sc.shutdown {
				todo = append(todo, sc)
			}
		}
		c.mu.Unlock()
		if len(todo) == 0 {
			return moved
		}
		for _, sc := range todo {
			sc.SetState(connectivity.Connecting)
			sc.SetState(connectivity.Ready)
			moved++
		}
	}
}

// allReady reports whether the state is READY and at least n SubConns are
// READY.
func (c *ClientConn) allReady(n int) bool {
	if c.State().ConnectivityState != connectivity.Ready {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ready := 0
	for _, sc := range c.subConns {
		if sc.state == connectivity.Ready && !sc.shutdown {
			ready++
		}
	}
	return ready >= n
}

// Connect implements balancer.SubConn: it only records the request; Settle
// delivers the state changes. Policies may call it from their own
// goroutines.
func (sc *SubConn) Connect() {
	sc.cc.mu.Lock()
	defer sc.cc.mu.Unlock()
	sc.connect = true
	select {
	case sc.cc.connectCh() <- struct{}{}:
	default:
	}
}

// connectCh is called with mu held.
func (c *ClientConn) connectCh() chan struct{} {
	if c.connects == nil {
		c.connects = make(chan struct{}, 1)
	}
	return c.connects
}

// Shutdown implements balancer.SubConn. Like grpc-go, it does not call the
// state listener from inside the balancer's own call.
func (sc *SubConn) Shutdown() {
	sc.cc.mu.Lock()
	defer sc.cc.mu.Unlock()
	sc.shutdown = true
}

// IsShutdown reports whether the policy shut the SubConn down.
func (sc *SubConn) IsShutdown() bool {
	sc.cc.mu.Lock()
	defer sc.cc.mu.Unlock()
	return sc.shutdown
}

// ReportShutdown delivers SHUTDOWN to the state listener of a SubConn the
// policy shut down, as gRPC does after Shutdown (later, on its
// serializer: call it outside the policy's calls). It does nothing for a
// SubConn that is not shut down.
func (sc *SubConn) ReportShutdown() {
	if sc.IsShutdown() {
		sc.listener(balancer.SubConnState{ConnectivityState: connectivity.Shutdown})
	}
}

// RegisterHealthListener implements balancer.SubConn. The listener is
// called after the state listener returns (pick_first registers it while
// handling READY, under its own lock).
func (sc *SubConn) RegisterHealthListener(l func(balancer.SubConnState)) {
	sc.health = l
}

// SetState delivers a connectivity change (and, for READY, a healthy
// report to a registered health listener).
func (sc *SubConn) SetState(s connectivity.State) {
	sc.cc.mu.Lock()
	if sc.shutdown {
		sc.cc.mu.Unlock()
		return
	}
	sc.state = s
	if s != connectivity.Ready {
		sc.connect = false
	}
	sc.cc.mu.Unlock()
	sc.listener(balancer.SubConnState{ConnectivityState: s})
	if s == connectivity.Ready && sc.health != nil {
		sc.health(balancer.SubConnState{ConnectivityState: connectivity.Ready})
	}
}

// Endpoints returns n endpoints with one address each, 10.x.y.z:8080.
func Endpoints(n int) []resolver.Endpoint {
	eps := make([]resolver.Endpoint, n)
	for i := range eps {
		addr := fmt.Sprintf("10.%d.%d.%d:8080", (i>>16)&255, (i>>8)&255, i&255)
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}}
	}
	return eps
}

// Build builds the registered balancer called name with the JSON config
// (may be empty) over the given endpoints, makes every SubConn READY and
// returns the balancer, the fake channel and the READY picker. Picks with
// the nudge contexts (and a plain one) help policies that connect an
// endpoint only when a pick lands on it.
func Build(name, config string, eps []resolver.Endpoint, nudge ...context.Context) (balancer.Balancer, *ClientConn, balancer.Picker, error) {
	return BuildReady(name, config, eps, len(eps), nudge...)
}

// BuildReady is Build for policies that connect only some of the
// endpoints (deterministic_subset): it settles once ready SubConns are
// READY.
func BuildReady(name, config string, eps []resolver.Endpoint, ready int, nudge ...context.Context) (balancer.Balancer, *ClientConn, balancer.Picker, error) {
	bb := balancer.Get(name)
	if bb == nil {
		return nil, nil, nil, fmt.Errorf("balancertest: no balancer registered as %q", name)
	}
	var cfg serviceconfig.LoadBalancingConfig
	if p, ok := bb.(balancer.ConfigParser); ok {
		if config == "" {
			config = "{}"
		}
		var err error
		if cfg, err = p.ParseConfig(json.RawMessage(config)); err != nil {
			return nil, nil, nil, err
		}
	}
	cc := &ClientConn{}
	b := bb.Build(cc, balancer.BuildOptions{})
	addrs := make([]resolver.Address, 0, len(eps))
	for _, ep := range eps {
		addrs = append(addrs, ep.Addresses...)
	}
	err := b.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  resolver.State{Endpoints: eps, Addresses: addrs},
		BalancerConfig: cfg,
	})
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	// Policies connect lazily in different ways: on ExitIdle, or, like
	// ring_hash, when a pick lands on an idle endpoint. Nudge with picks
	// until every endpoint has a READY SubConn.
	nudge = append(nudge, context.Background())
	for range 50 {
		cc.Settle()
		if cc.allReady(ready) {
			break
		}
		if st := cc.State(); st.Picker != nil {
			// ring_hash without a hash key walks the ring from a random
			// point and connects at most one idle endpoint per pick, so
			// one pick a round would need about n·H(n) rounds: pick as
			// many times as there are endpoints.
			for _, ctx := range nudge {
				for range max(len(eps), 1) {
					if res, err := st.Picker.Pick(balancer.PickInfo{Ctx: ctx}); err == nil && res.Done != nil {
						res.Done(balancer.DoneInfo{})
					}
				}
			}
		}
		b.ExitIdle()
		// Some policies connect from a goroutine of their own.
		cc.mu.Lock()
		ch := cc.connectCh()
		cc.mu.Unlock()
		select {
		case <-ch:
			time.Sleep(time.Millisecond) // let the other connects of this round land
		case <-time.After(100 * time.Millisecond):
		}
	}
	cc.Settle()
	st := cc.State()
	if st.ConnectivityState != connectivity.Ready {
		b.Close()
		return nil, nil, nil, fmt.Errorf("balancertest: %s is %v, not READY, after settling", name, st.ConnectivityState)
	}
	return b, cc, st.Picker, nil
}
