package pool

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/policy"
)

// Name is the policy's name in service configs.
const Name = "pool"

func init() { policy.Register(Name, ParseConfig, newBalancer) }

func newBalancer(cc balancer.ClientConn, _ balancer.BuildOptions) balancer.Balancer {
	return &poolBalancer{cc: cc, conns: make(map[string][]*conn), cfg: &Config{Connections: DefaultConnections, Pick: PickRoundRobin}}
}

// poolBalancer owns N SubConns per address and publishes a picker over
// the READY ones. grpc-go calls it from one goroutine at a time, but SubConn
// state listeners may arrive on another, hence the mutex.
type poolBalancer struct {
	cc balancer.ClientConn

	mu          sync.Mutex
	cfg         *Config
	conns       map[string][]*conn // by address, in creation order
	order       []string           // addresses in resolver order
	resolverErr error
	closed      bool
	lastPicker  []*conn // READY conns of the last picker, to skip needless updates
	lastState   connectivity.State
}

func (b *poolBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cfg, ok := s.BalancerConfig.(*Config); ok {
		b.cfg = cfg
	}
	addrs := addresses(s.ResolverState)
	if len(addrs) == 0 {
		b.resolverErr = errors.New("pool: the resolver produced no addresses")
		b.resizeLocked(nil)
		b.publishLocked(true)
		return balancer.ErrBadResolverState
	}
	b.resolverErr = nil
	b.resizeLocked(addrs)
	b.publishLocked(true)
	return nil
}

// addresses lists every distinct address of every endpoint (or, from
// resolvers that only fill Addresses, those), in order.
func addresses(s resolver.State) []resolver.Address {
	var out []resolver.Address
	seen := make(map[string]bool)
	add := func(a resolver.Address) {
		if !seen[a.Addr] {
			seen[a.Addr] = true
			out = append(out, a)
		}
	}
	for _, ep := range s.Endpoints {
		for _, a := range ep.Addresses {
			add(a)
		}
	}
	if len(s.Endpoints) == 0 {
		for _, a := range s.Addresses {
			add(a)
		}
	}
	return out
}

// resizeLocked makes the pool hold Connections SubConns for each address
// in addrs and none for any other.
func (b *poolBalancer) resizeLocked(addrs []resolver.Address) {
	want := make(map[string]bool, len(addrs))
	b.order = b.order[:0]
	for _, a := range addrs {
		want[a.Addr] = true
		b.order = append(b.order, a.Addr)
		cs := b.conns[a.Addr]
		for len(cs) > b.cfg.Connections {
			cs[len(cs)-1].sc.Shutdown()
			cs = cs[:len(cs)-1]
		}
		for len(cs) < b.cfg.Connections {
			c, err := b.newConnLocked(a)
			if err != nil {
				break
			}
			cs = append(cs, c)
		}
		b.conns[a.Addr] = cs
	}
	for addr, cs := range b.conns {
		if !want[addr] {
			for _, c := range cs {
				c.sc.Shutdown()
			}
			delete(b.conns, addr)
		}
	}
}

func (b *poolBalancer) newConnLocked(a resolver.Address) (*conn, error) {
	c := &conn{addr: a.Addr, state: connectivity.Idle}
	c.done = func(balancer.DoneInfo) { c.inFlight.Add(-1) }
	// One address per SubConn, as NewSubConn's deprecation note asks; there
	// is no other way for a policy to make its own SubConns.
	//lint:ignore SA1019 one address per SubConn
	sc, err := b.cc.NewSubConn([]resolver.Address{a}, balancer.NewSubConnOptions{
		StateListener: func(s balancer.SubConnState) { b.updateSubConnState(c, s) },
	})
	if err != nil {
		return nil, fmt.Errorf("pool: creating a connection to %s: %w", a.Addr, err)
	}
	c.sc = sc
	sc.Connect()
	return c, nil
}

func (b *poolBalancer) updateSubConnState(c *conn, s balancer.SubConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || s.ConnectivityState == connectivity.Shutdown {
		return
	}
	c.state = s.ConnectivityState
	switch s.ConnectivityState {
	case connectivity.Idle:
		// Reconnect at once: an aged-out connection should come back,
		// perhaps to another backend behind the VIP.
		c.sc.Connect()
	case connectivity.TransientFailure:
		c.lastErr = s.ConnectionError
	}
	b.publishLocked(false)
}

func (b *poolBalancer) ResolverError(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resolverErr = err
	if len(b.conns) == 0 {
		b.publishLocked(true)
	}
}

// publishLocked sends the channel a picker over the READY connections,
// unless nothing it depends on changed.
func (b *poolBalancer) publishLocked(force bool) {
	var ready []*conn
	connecting := false
	var lastErr error
	for _, addr := range b.order {
		for _, c := range b.conns[addr] {
			switch c.state {
			case connectivity.Ready:
				ready = append(ready, c)
			case connectivity.Idle, connectivity.Connecting:
				connecting = true
			case connectivity.TransientFailure:
				lastErr = c.lastErr
			}
		}
	}
	var st balancer.State
	switch {
	case len(ready) > 0:
		if !force && b.lastState == connectivity.Ready && slices.Equal(ready, b.lastPicker) {
			return
		}
		st = balancer.State{ConnectivityState: connectivity.Ready, Picker: newPicker(ready, b.cfg.Pick)}
	case connecting:
		st = balancer.State{ConnectivityState: connectivity.Connecting, Picker: errPicker{balancer.ErrNoSubConnAvailable}}
	default:
		err := lastErr
		if err == nil {
			err = b.resolverErr
		}
		if err == nil {
			err = errors.New("pool: no connection is ready")
		}
		st = balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: errPicker{fmt.Errorf("pool: %w", err)}}
	}
	b.lastPicker, b.lastState = ready, st.ConnectivityState
	b.cc.UpdateState(st)
}

func (b *poolBalancer) UpdateSubConnState(sc balancer.SubConn, s balancer.SubConnState) {
	// State arrives through the StateListener of each SubConn.
}

func (b *poolBalancer) ExitIdle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cs := range b.conns {
		for _, c := range cs {
			if c.state == connectivity.Idle {
				c.sc.Connect()
			}
		}
	}
}

func (b *poolBalancer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for addr, cs := range b.conns {
		for _, c := range cs {
			c.sc.Shutdown()
		}
		delete(b.conns, addr)
	}
}
