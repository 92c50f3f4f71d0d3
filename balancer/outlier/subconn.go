package outlier

import (
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

// errEjected is the error of the TRANSIENT_FAILURE the child sees for the
// SubConns of an ejected endpoint.
var errEjected = errors.New(Name + ": endpoint ejected: too many of its calls failed")

var ejectedState = balancer.SubConnState{ConnectivityState: connectivity.TransientFailure, ConnectionError: errEjected}

// childConn is the ClientConn of one child policy: it wraps the child's
// SubConns and pickers. gen tells a replaced child's calls from the
// current one's.
type childConn struct {
	balancer.ClientConn
	b   *outlierBalancer
	gen int
	// roundRobin: the child is grpc-go's round_robin, whose READY pickers
	// an rrPicker may stand for.
	roundRobin bool
}

func (c *childConn) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	c.b.mu.Lock()
	sc := c.b.allocSubConnLocked()
	c.b.mu.Unlock()
	sc.subConnCold = &subConnCold{b: c.b, gen: c.gen, listener: opts.StateListener}
	sc.done = func(info balancer.DoneInfo) {
		if e := sc.ep.Load(); e != nil {
			c.b.count(e, info)
		}
	}
	if len(addrs) > 0 {
		sc.addr = addrs[0].Addr
	}
	opts.StateListener = sc.onState
	// Forwarding the child's call: the child decides on the addresses.
	//lint:ignore SA1019 NewSubConn is how a policy makes SubConns
	inner, err := c.ClientConn.NewSubConn(addrs, opts)
	if err != nil {
		return nil, err
	}
	sc.SubConn = inner
	b := c.b
	b.mu.Lock()
	b.subConns[sc] = true
	b.linkLocked(sc)
	b.mu.Unlock()
	return sc, nil
}

// RemoveSubConn is deprecated; it shuts sc down.
func (c *childConn) RemoveSubConn(sc balancer.SubConn) { sc.Shutdown() }

// UpdateAddresses is deprecated; it is forwarded.
func (c *childConn) UpdateAddresses(sc balancer.SubConn, addrs []resolver.Address) {
	//lint:ignore SA1019 forwarding the deprecated call of a child
	sc.UpdateAddresses(addrs)
}

// UpdateState publishes the child's state with a picker that skips
// ejected endpoints and counts the calls' outcomes.
func (c *childConn) UpdateState(s balancer.State) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || c.gen != b.gen {
		return
	}
	s = b.resolverErr.State(s)
	var p balancer.Picker = &picker{child: s.Picker, b: b}
	if c.roundRobin {
		if rr := b.newRRPickerLocked(s.Picker); rr != nil {
			p = rr
		}
	}
	b.cc.UpdateState(balancer.State{ConnectivityState: s.ConnectivityState, Picker: p})
}

// linkLocked points sc at the endpoint of its address, if any.
func (b *outlierBalancer) linkLocked(sc *subConn) {
	e := b.byAddr[sc.addr] // nil if the address is in no endpoint
	sc.ep.Store(e)
	b.setCopyLocked(sc, e != nil && e.ejected.Load())
}

// forget drops sc, which the child shut down.
func (b *outlierBalancer) forget(sc *subConn) {
	b.mu.Lock()
	delete(b.subConns, sc)
	b.mu.Unlock()
}

// healthUpdate is a health update from gRPC waiting for run to deliver
// it.
type healthUpdate struct {
	sc    *subConn
	gen   int // the health listener's registration
	state balancer.SubConnState
}

// subConn wraps a SubConn of the child. While its endpoint is ejected the
// child sees it in TRANSIENT_FAILURE: through its health listener if the
// child registered one (pick_first under a petiole policy such as
// round_robin: gRFC A61, as grpc-go's outlier detection does), or else
// through its state listener, READY becoming TRANSIENT_FAILURE (children
// such as pool that watch connectivity only).
type subConn struct {
	// What a pick and its Done read, and nothing else, so that the
	// wrappers of 10,000 endpoints (48 bytes each) stay in the CPU cache:
	// ejectedCopy is ep's ejected flag, kept in step under b.mu
	// (setCopyLocked, called by setEjectedLocked and linkLocked); done
	// counts a call's outcome for ep, made once.
	balancer.SubConn // gRPC's
	done             func(balancer.DoneInfo)
	ep               atomic.Pointer[endpoint] // nil if its address is in no endpoint
	ejectedCopy      atomic.Bool
	*subConnCold
}

// subConnBlock is how many subConns are allocated together, so that the
// wrappers picks read lie side by side with nothing else between them:
// 10,000 of them take 480 KB, which mostly stays in a core's L2 cache (one
// by one, they lay between the larger objects made with them, and every
// pick missed the cache). Each Done reads one, and so does each pick over
// a child other than round_robin (over round_robin, rrPicker reads an
// array of its own). They are not read in memory order, so the CPU's
// prefetcher does not help; what helps is the smaller footprint. A
// block stays allocated while any of its wrappers is in use: at most
// 64 × 48 bytes for each that outlives its neighbours.
const subConnBlock = 64

// allocSubConnLocked returns a zero subConn from the current block.
func (b *outlierBalancer) allocSubConnLocked() *subConn {
	if len(b.subConnSlab) == 0 {
		b.subConnSlab = make([]subConn, subConnBlock)
	}
	sc := &b.subConnSlab[0]
	b.subConnSlab = b.subConnSlab[1:]
	return sc
}

// subConnCold is the part of a subConn that neither a pick nor its Done
// reads.
type subConnCold struct {
	b        *outlierBalancer
	gen      int                         // of the child that made it
	listener func(balancer.SubConnState) // the child's state listener
	shutdown atomic.Bool                 // the child shut it down

	addr string // guarded by b.mu

	// What the child knows, guarded by b.childMu.
	state  connectivity.State    // the last state from gRPC, delivered to the child
	health balancer.SubConnState // the last health update from gRPC since READY
	told   bool                  // the child was told it is ejected

	mu             sync.Mutex
	healthListener func(balancer.SubConnState) // the child's, since the last state update
	healthGen      int                         // counts registrations, to drop stale updates
}

// onState receives gRPC's connectivity updates and passes them on: the
// child always sees the real state first, then, if the endpoint is
// ejected and the state is READY, the ejection.
func (sc *subConn) onState(s balancer.SubConnState) {
	b := sc.b
	if s.ConnectivityState == connectivity.Shutdown {
		b.forget(sc)
	}
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if !b.currentLocked(sc) {
		return
	}
	// A new state ends the health listener's registration (gRFC A61).
	sc.mu.Lock()
	sc.healthListener = nil
	sc.healthGen++
	sc.mu.Unlock()
	sc.state = s.ConnectivityState
	sc.health = balancer.SubConnState{ConnectivityState: connectivity.Connecting}
	sc.told = false
	sc.deliverStateLocked(s)
	if s.ConnectivityState == connectivity.Ready {
		sc.syncLocked()
	}
}

// deliverStateLocked calls the child's state listener. (A child without
// one, on the deprecated UpdateSubConnState API, hears nothing.)
func (sc *subConn) deliverStateLocked(s balancer.SubConnState) {
	if sc.listener != nil {
		sc.listener(s)
	}
}

// RegisterHealthListener registers the child's health listener, and one
// of the policy's own with gRPC, whose updates run delivers.
func (sc *subConn) RegisterHealthListener(l func(balancer.SubConnState)) {
	sc.mu.Lock()
	sc.healthGen++
	gen := sc.healthGen
	sc.healthListener = l
	sc.mu.Unlock()
	if l == nil {
		sc.SubConn.RegisterHealthListener(nil)
		return
	}
	// gRPC calls this with a lock of its own held that it also takes in
	// RegisterHealthListener, which the child may call with childMu held:
	// queue the update rather than take childMu here.
	sc.SubConn.RegisterHealthListener(func(s balancer.SubConnState) {
		b := sc.b
		b.mu.Lock()
		b.health = append(b.health, healthUpdate{sc: sc, gen: gen, state: s})
		b.mu.Unlock()
		b.wake()
	})
}

// healthLocked delivers a health update from gRPC to the child's listener,
// as TRANSIENT_FAILURE while the endpoint is ejected.
func (sc *subConn) healthLocked(gen int, s balancer.SubConnState) {
	sc.mu.Lock()
	l := sc.healthListener
	current := gen == sc.healthGen
	sc.mu.Unlock()
	if !current || l == nil {
		return
	}
	sc.health = s
	if sc.ejected() {
		if !sc.told {
			sc.told = true
			l(ejectedState)
		}
		return
	}
	sc.told = false
	l(s)
}

// syncLocked tells the child of an ejection or un-ejection it has not
// heard of.
func (sc *subConn) syncLocked() {
	want := sc.ejected()
	if want == sc.told || sc.shutdown.Load() {
		return
	}
	sc.mu.Lock()
	l := sc.healthListener
	sc.mu.Unlock()
	switch {
	case want && l != nil:
		sc.told = true
		l(ejectedState)
	case want && sc.state == connectivity.Ready:
		sc.told = true
		sc.deliverStateLocked(ejectedState)
	case want:
		// Not READY: nothing to hide until it is (onState).
	case l != nil:
		sc.told = false
		l(sc.health)
	default:
		// told is set only while READY, and any state update clears it.
		sc.told = false
		sc.deliverStateLocked(balancer.SubConnState{ConnectivityState: connectivity.Ready})
	}
}

func (sc *subConn) ejected() bool {
	e := sc.ep.Load()
	return e != nil && e.ejected.Load()
}

func (sc *subConn) Shutdown() {
	sc.shutdown.Store(true)
	sc.b.forget(sc)
	sc.SubConn.Shutdown()
}

// UpdateAddresses is deprecated; the SubConn follows its new first
// address's endpoint.
func (sc *subConn) UpdateAddresses(addrs []resolver.Address) {
	//lint:ignore SA1019 forwarding the deprecated call of a child
	sc.SubConn.UpdateAddresses(addrs)
	b := sc.b
	b.mu.Lock()
	defer b.mu.Unlock()
	sc.addr = ""
	if len(addrs) > 0 {
		sc.addr = addrs[0].Addr
	}
	b.linkLocked(sc)
}
