package framerelay

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	estats "google.golang.org/grpc/experimental/stats"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/nometrics"
)

// cluster runs a gRPC resolver and load-balancing policy the way a
// grpc.ClientConn does, except that its SubConns are the relay's own
// HTTP/2 connections (backendConn): any registered resolver finds the
// backends, any registered policy (round_robin, p2c_ewma, ...) picks one
// per call and is told how the call ended (Done).
type cluster struct {
	r      *Relay
	name   string
	target string

	// mu serializes the calls into the policy, as grpc-go's ClientConn
	// does; the policy's calls back (NewSubConn, UpdateState, Connect) do
	// not take it.
	mu     sync.Mutex
	bal    balancer.Balancer
	cfg    serviceconfig.LoadBalancingConfig
	res    resolver.Resolver
	closed bool
	stop   chan struct{} // closed by close: dials and backoffs give up

	pick atomic.Pointer[pickerGen]
	// state is the policy's connectivity.State; onState hears of changes.
	state   atomic.Int32
	onState func()
	// dial connects to a backend address; nil is TCP.
	dial func(addr string) (net.Conn, error)
	// keepalive is Cluster.Keepalive.
	keepalive Keepalive
	// lastLog is when (unix ns) unreached last logged.
	lastLog atomic.Int64

	// key is Cluster.Key: a Reload keeps the cluster if it is unchanged.
	key string
	// calls counts the calls routed to it and not ended; once a Reload
	// retired it, the last one closes it.
	calls   atomic.Int64
	retired atomic.Bool

	// emu guards what /clusters shows: the endpoints the resolver last
	// published, its error since (nil once it publishes again), the
	// policy's SubConns, those it shut down while calls were still
	// running on their connections (gone, until the calls end) and the
	// last call that found no backend.
	emu         sync.Mutex
	eps         []resolver.Endpoint
	resolveErr  error
	subs        map[*subConn]struct{}
	gone        map[*subConn]struct{}
	kept        int // SubConns put in gone: every pruneEvery, pruneGone
	unreachedAt time.Time
	unreachedBy string
}

// pickerGen is the policy's current picker; changed is closed when a
// newer one replaces it.
type pickerGen struct {
	p       balancer.Picker
	changed chan struct{}
}

// newCluster builds a cluster from its spec: the resolver of its target
// (spec.Resolver, or the one registered for the target's scheme) and the
// first registered policy of its loadBalancingConfig list.
func newCluster(r *Relay, name string, spec Cluster) (*cluster, error) {
	target := spec.Target
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("framerelay: target %q: %w", target, err)
	}
	rb := spec.Resolver
	if rb == nil {
		rb = resolver.Get(u.Scheme)
	}
	if rb == nil {
		return nil, fmt.Errorf("framerelay: target %q: no resolver for scheme %q", target, u.Scheme)
	}
	lb := spec.LBConfig
	if lb == "" {
		lb = `[{"round_robin":{}}]`
	}
	var dial func(string) (net.Conn, error)
	if spec.TLS != nil {
		dial = tlsDialer(spec.TLS)
	}
	c, err := newPolicy(r, target, lb, dial)
	if err != nil {
		return nil, err
	}
	c.name, c.key, c.keepalive = name, spec.Key, spec.Keepalive
	res, err := rb.Build(resolver.Target{URL: *u}, &resolverCC{c: c}, resolver.BuildOptions{})
	if err != nil {
		c.bal.Close()
		return nil, fmt.Errorf("framerelay: target %q: %w", target, err)
	}
	c.mu.Lock()
	c.res = res
	c.mu.Unlock()
	return c, nil
}

// newPolicy builds a cluster's policy, without a resolver: the first
// registered policy of lbConfig, a service config's loadBalancingConfig
// list, its backends dialled with dial (TCP if nil).
func newPolicy(r *Relay, target, lbConfig string, dial func(string) (net.Conn, error)) (*cluster, error) {
	bb, cfg, err := parseLBConfig(lbConfig)
	if err != nil {
		return nil, err
	}
	c := &cluster{r: r, target: target, cfg: cfg, stop: make(chan struct{}), dial: dial, onState: r.updateHealth}
	c.pick.Store(&pickerGen{p: base{balancer.ErrNoSubConnAvailable}, changed: make(chan struct{})})
	c.bal = bb.Build(&policyCC{c: c}, balancer.BuildOptions{})
	return c, nil
}

func parseLBConfig(js string) (balancer.Builder, serviceconfig.LoadBalancingConfig, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &list); err != nil {
		return nil, nil, fmt.Errorf("framerelay: loadBalancingConfig %s: %w", js, err)
	}
	var names []string
	for _, entry := range list {
		for name, raw := range entry {
			bb := balancer.Get(name)
			if bb == nil {
				names = append(names, name)
				continue
			}
			var cfg serviceconfig.LoadBalancingConfig
			if p, ok := bb.(balancer.ConfigParser); ok {
				var err error
				if cfg, err = p.ParseConfig(raw); err != nil {
					return nil, nil, fmt.Errorf("framerelay: %s: %w", name, err)
				}
			}
			return bb, cfg, nil
		}
	}
	return nil, nil, fmt.Errorf("framerelay: loadBalancingConfig %s: no registered policy (unknown: %s)", js, strings.Join(names, ", "))
}

func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.stop)
	if c.res != nil {
		c.res.Close()
	}
	c.bal.Close()
}

// base is a picker that always fails with err.
type base struct{ err error }

func (b base) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, b.err
}

// logEvery bounds how often a cluster logs that calls found no healthy
// upstream: a cluster that is down fails every call.
const logEvery = 10 * time.Second

// unreached is the error a client gets for a call the cluster's policy
// found no backend for: a status the policy chose passes unchanged; any
// other error becomes UNAVAILABLE "no healthy upstream for cluster X",
// and its detail (connection errors that name backend addresses) goes to
// the log instead, at most every logEvery.
func (c *cluster) unreached(err error) error {
	c.emu.Lock()
	c.unreachedAt, c.unreachedBy = time.Now(), err.Error()
	c.emu.Unlock()
	if _, ok := status.FromError(err); ok {
		return err
	}
	if now, last := time.Now().UnixNano(), c.lastLog.Load(); now-last >= int64(logEvery) && c.lastLog.CompareAndSwap(last, now) {
		c.r.log.Warn("framerelay: no healthy upstream", "cluster", c.name, "target", c.target, "err", err)
	}
	return status.Errorf(codes.Unavailable, "framerelay: no healthy upstream for cluster %s", c.name)
}

// tryPick picks the backend connection of a new call from the policy's
// current picker; balancer.ErrNoSubConnAvailable means the policy has
// none to offer yet.
func (c *cluster) tryPick(info balancer.PickInfo) (*backendConn, func(balancer.DoneInfo), error) {
	return pickFrom(c.pick.Load().p, info)
}

func pickFrom(p balancer.Picker, info balancer.PickInfo) (*backendConn, func(balancer.DoneInfo), error) {
	res, err := p.Pick(info)
	if err != nil {
		return nil, nil, err
	}
	if sc, ok := res.SubConn.(*subConn); ok {
		if bc := sc.bc.Load(); bc != nil && !bc.goneFlag.Load() {
			return bc, res.Done, nil
		}
	}
	if res.Done != nil {
		res.Done(balancer.DoneInfo{Err: errors.New("framerelay: picked a connection that is not ready")})
	}
	return nil, nil, balancer.ErrNoSubConnAvailable
}

// pickConn picks the backend connection of a new call. While the policy
// has no connection to offer (ErrNoSubConnAvailable) it waits for its
// next picker, for at most maxWait, until cancel is closed or the
// cluster closes.
func (c *cluster) pickConn(info balancer.PickInfo, maxWait time.Duration, cancel <-chan struct{}) (*backendConn, func(balancer.DoneInfo), error) {
	timeout := time.NewTimer(maxWait)
	defer timeout.Stop()
	for {
		g := c.pick.Load()
		bc, done, err := pickFrom(g.p, info)
		if !errors.Is(err, balancer.ErrNoSubConnAvailable) {
			return bc, done, err
		}
		select {
		case <-g.changed:
		case <-timeout.C:
			return nil, nil, fmt.Errorf("framerelay: %s: no backend ready within %v", c.target, maxWait)
		case <-cancel:
			return nil, nil, status.Error(codes.Canceled, "framerelay: the call ended while waiting for a backend")
		case <-c.stop:
			return nil, nil, status.Error(codes.Unavailable, "framerelay: closing")
		}
	}
}

// resolverCC is the resolver's ClientConn: it hands updates to the policy.
type resolverCC struct {
	resolver.ClientConn // unimplemented methods panic
	c                   *cluster
}

func (rc *resolverCC) UpdateState(s resolver.State) error {
	if len(s.Endpoints) == 0 && len(s.Addresses) > 0 {
		// A resolver that sets only Addresses (passthrough, dns): as
		// grpc.ClientConn does, each address is an endpoint.
		s.Endpoints = make([]resolver.Endpoint, len(s.Addresses))
		for i, a := range s.Addresses {
			s.Endpoints[i] = resolver.Endpoint{Addresses: []resolver.Address{a}}
		}
	}
	c := rc.c
	c.emu.Lock()
	c.eps, c.resolveErr = s.Endpoints, nil
	c.emu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.bal.UpdateClientConnState(balancer.ClientConnState{ResolverState: s, BalancerConfig: c.cfg})
}

func (rc *resolverCC) ReportError(err error) {
	c := rc.c
	c.emu.Lock()
	c.resolveErr = err
	c.emu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.bal.ResolverError(err)
	}
}

func (rc *resolverCC) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{Err: errors.New("framerelay: service configs from the resolver are not used")}
}

// policyCC is the policy's ClientConn.
type policyCC struct {
	balancer.ClientConn // unimplemented methods panic
	c                   *cluster
}

func (pc *policyCC) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("framerelay: a SubConn needs an address")
	}
	sc := &subConn{c: pc.c, addr: addrs[0].Addr, listener: opts.StateListener, state: connectivity.Idle}
	c := pc.c
	c.emu.Lock()
	if c.subs == nil {
		c.subs = map[*subConn]struct{}{}
	}
	c.subs[sc] = struct{}{}
	c.emu.Unlock()
	return sc, nil
}

func (pc *policyCC) RemoveSubConn(sc balancer.SubConn) { sc.Shutdown() }

func (pc *policyCC) UpdateAddresses(balancer.SubConn, []resolver.Address) {}

func (pc *policyCC) UpdateState(s balancer.State) {
	old := pc.c.pick.Swap(&pickerGen{p: s.Picker, changed: make(chan struct{})})
	close(old.changed)
	if pc.c.state.Swap(int32(s.ConnectivityState)) != int32(s.ConnectivityState) && pc.c.onState != nil {
		pc.c.onState()
	}
}

// ready reports whether the cluster's policy has a backend to offer.
func (c *cluster) ready() bool { return connectivity.State(c.state.Load()) == connectivity.Ready }

func (pc *policyCC) ResolveNow(o resolver.ResolveNowOptions) {
	c := pc.c
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed && c.res != nil {
			c.res.ResolveNow(o)
		}
	}()
}

func (pc *policyCC) Target() string { return pc.c.target }

func (pc *policyCC) MetricsRecorder() estats.MetricsRecorder { return nometrics.Recorder{} }

// subConn is a policy's SubConn: one HTTP/2 connection to addr, dialled on
// Connect; it goes IDLE when the connection ends or the backend sends
// GOAWAY (the calls on it finish there, and the policy's Connect dials a
// new one at once), and after a failed dial TRANSIENT_FAILURE, then IDLE
// once its backoff has passed.
type subConn struct {
	balancer.SubConn // unimplemented methods panic
	c                *cluster
	addr             string
	listener         func(balancer.SubConnState)

	bc atomic.Pointer[backendConn] // while READY
	// old holds (under mu) the connections detached by a GOAWAY, or by
	// Shutdown, whose calls are finishing, so that status counts those
	// calls too.
	old map[*backendConn]struct{}

	mu       sync.Mutex
	state    connectivity.State
	health   func(balancer.SubConnState)
	shutdown bool
	failures int // dials failed in a row
}

func (sc *subConn) Connect() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.shutdown || sc.state != connectivity.Idle {
		return
	}
	sc.state = connectivity.Connecting
	go sc.dial()
}

func (sc *subConn) Shutdown() {
	sc.mu.Lock()
	was := sc.shutdown
	sc.shutdown = true
	bc := sc.bc.Swap(nil)
	if bc != nil {
		sc.keepLocked(bc) // its calls finish there: status counts them
	}
	connected := len(sc.old) > 0
	sc.mu.Unlock()
	c := sc.c
	c.emu.Lock()
	delete(c.subs, sc)
	prune := false
	if connected { // a SubConn without a connection has no call to show
		if c.gone == nil {
			c.gone = map[*subConn]struct{}{}
		}
		c.gone[sc] = struct{}{}
		c.kept++
		prune = c.kept%pruneEvery == 0
	}
	c.emu.Unlock()
	if prune {
		c.pruneGone()
	}
	if !was && c.name != "" {
		c.r.observer().EndpointGone(c.name, sc.addr)
	}
	if bc != nil {
		bc.drain()
	}
}

// pruneEvery is how many SubConns are put in gone between two prunings of
// it (status prunes too): a mass shutdown costs linear time, and gone
// holds fewer than that many SubConns without calls.
const pruneEvery = 64

// pruneGone forgets the shut-down SubConns that have no call left.
func (c *cluster) pruneGone() {
	c.emu.Lock()
	gone := slices.Collect(maps.Keys(c.gone))
	c.emu.Unlock()
	c.forgetEnded(gone)
}

// forgetEnded forgets those of the shut-down SubConns gone that have no
// call left (their connections take no new ones, so none will come), and
// returns the calls still running on each of the others.
func (c *cluster) forgetEnded(gone []*subConn) (running map[*subConn]int64) {
	var ended []*subConn
	for _, sc := range gone {
		if n := sc.inFlight(); n == 0 {
			ended = append(ended, sc)
		} else {
			if running == nil {
				running = map[*subConn]int64{}
			}
			running[sc] = n
		}
	}
	if len(ended) > 0 {
		c.emu.Lock()
		for _, sc := range ended {
			delete(c.gone, sc)
		}
		c.emu.Unlock()
	}
	return running
}

// inFlight counts the calls (and hedged attempts) on sc's connections:
// the READY one and those detached while their calls finish.
func (sc *subConn) inFlight() int64 {
	sc.mu.Lock()
	conns := slices.Collect(maps.Keys(sc.old))
	sc.mu.Unlock()
	if bc := sc.bc.Load(); bc != nil {
		conns = append(conns, bc)
	}
	var n int64
	for _, bc := range conns {
		bc.smu.Lock()
		n += int64(len(bc.streams) + len(bc.attempts))
		bc.smu.Unlock()
	}
	return n
}

func (sc *subConn) RegisterHealthListener(l func(balancer.SubConnState)) {
	sc.mu.Lock()
	sc.health = l
	sc.mu.Unlock()
}

// dial connects; the state changes go to the policy.
func (sc *subConn) dial() {
	sc.setState(connectivity.Connecting, nil)
	bc, err := sc.c.r.dialBackend(sc.addr, sc.c.dial, sc.c.stop, sc.detach, sc.c.keepalive)
	if err != nil {
		sc.mu.Lock()
		sc.failures++
		n := sc.failures
		sc.mu.Unlock()
		sc.setState(connectivity.TransientFailure, err)
		t := time.NewTimer(backoff(n))
		defer t.Stop()
		select {
		case <-t.C:
			sc.setState(connectivity.Idle, nil)
		case <-sc.c.stop:
		}
		return
	}
	sc.mu.Lock()
	sc.failures = 0
	shut := sc.shutdown
	sc.mu.Unlock()
	if shut {
		bc.drain()
		return
	}
	if bc.ka.Time > 0 {
		go bc.keepalive()
	}
	sc.c.mu.Lock()
	defer sc.c.mu.Unlock()
	if bc.goneFlag.Load() { // went away or closed before it was READY
		sc.setStateLocked(connectivity.Idle, nil)
		return
	}
	sc.bc.Store(bc)
	sc.setStateLocked(connectivity.Ready, nil)
}

// detach takes bc, which takes no new calls any more (the backend sent
// GOAWAY, or the connection ended: ended), from sc if it is still sc's
// connection, and makes sc IDLE: the policy asks for a new connection,
// while the calls on bc finish there (sc.old holds bc until it ends). It
// runs under the cluster's lock, as dial's READY does, so that the two
// see each other: a connection that goes away before dial made it sc's
// is never made READY.
func (sc *subConn) detach(bc *backendConn, ended bool) {
	sc.c.mu.Lock()
	defer sc.c.mu.Unlock()
	if sc.bc.CompareAndSwap(bc, nil) {
		sc.setStateLocked(connectivity.Idle, nil)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if ended {
		delete(sc.old, bc)
	} else {
		sc.keepLocked(bc)
	}
}

// keepLocked puts bc, which takes no new calls, in sc.old while the calls
// on it finish (under sc.mu).
func (sc *subConn) keepLocked(bc *backendConn) {
	if sc.old == nil {
		sc.old = map[*backendConn]struct{}{}
	}
	sc.old[bc] = struct{}{}
}

// backoff is gRPC's connection backoff (1 s, ×1.6, ±20%, at most 120 s)
// before the nth attempt after a failure.
func backoff(n int) time.Duration {
	d := float64(time.Second)
	for range n - 1 {
		d *= 1.6
		if d > float64(120*time.Second) {
			d = float64(120 * time.Second)
			break
		}
	}
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// setState tells the policy (under the cluster's lock, as grpc-go's
// serializer would) of a state change, and a health listener of READY.
func (sc *subConn) setState(s connectivity.State, err error) {
	sc.c.mu.Lock()
	defer sc.c.mu.Unlock()
	sc.setStateLocked(s, err)
}

// setStateLocked is setState under the cluster's lock.
func (sc *subConn) setStateLocked(s connectivity.State, err error) {
	c := sc.c
	sc.mu.Lock()
	if sc.shutdown || c.closed {
		sc.mu.Unlock()
		return
	}
	sc.state = s
	sc.mu.Unlock()
	sc.listener(balancer.SubConnState{ConnectivityState: s, ConnectionError: err})
	sc.mu.Lock()
	health := sc.health
	sc.mu.Unlock()
	if s == connectivity.Ready && health != nil { // no health checks: READY is healthy
		health(balancer.SubConnState{ConnectivityState: s})
	}
}

// tlsDialer dials backends over TLS with cfg, offering ALPN h2 and
// requiring it; an empty cfg.ServerName is the dialled host.
func tlsDialer(cfg *tls.Config) func(string) (net.Conn, error) {
	return func(addr string) (net.Conn, error) {
		c := cfg.Clone()
		c.NextProtos = []string{"h2"}
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		nc, err := (&tls.Dialer{Config: c}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if p := nc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "h2" {
			nc.Close()
			return nil, fmt.Errorf("framerelay: %s did not negotiate HTTP/2 over TLS (ALPN %q)", addr, p)
		}
		return nc, nil
	}
}

// dialBackend dials an h2c connection to addr (with dial, or TCP if nil)
// and waits for the server's SETTINGS; detach runs when the connection
// takes no new calls any more (backendConn.detach); ka is its cluster's
// Keepalive.
func (r *Relay) dialBackend(addr string, dial func(string) (net.Conn, error), stop <-chan struct{}, detach func(bc *backendConn, ended bool), ka Keepalive) (*backendConn, error) {
	if dial == nil {
		dial = func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, dialTimeout) }
	}
	nc, err := dial(addr)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write([]byte(preface)); err != nil {
		nc.Close()
		return nil, err
	}
	bc := &backendConn{conn: newConn(nc, r.budget), addr: addr, nextID: 1, streams: map[uint32]*link{}, attempts: map[uint32]*attempt{}, ready: make(chan struct{}), detach: detach, ka: ka}
	bc.lastRead.Store(time.Now().UnixNano())
	bc.rfr.MaxHeaderListSize = r.limits.MaxHeaderListBytes
	bc.maxResponse = r.limits.MaxResponseBytes
	if !r.track(bc.conn) {
		bc.close()
		return nil, net.ErrClosed
	}
	bc.start(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	go bc.readLoop(r)
	t := time.NewTimer(dialTimeout)
	defer t.Stop()
	select {
	case <-bc.ready:
		return bc, nil
	case <-t.C:
		bc.close()
		return nil, fmt.Errorf("framerelay: %s sent no HTTP/2 SETTINGS within %v", addr, dialTimeout)
	case <-stop:
		bc.close()
		return nil, net.ErrClosed
	}
}
