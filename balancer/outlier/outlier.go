package outlier

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/epmap"
	"github.com/grpclb/grpclb/internal/policy"
	"github.com/grpclb/grpclb/internal/resolvererr"
)

// Name is the name of the policy in a service config's loadBalancingConfig.
const Name = "outlier_ejection"

var logger = grpclog.Component(Name)

func init() {
	policy.Register(Name, ParseConfig, newBalancer)
}

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	cfg := defaults() // until the first config
	b := &outlierBalancer{
		cc:       cc,
		opts:     opts,
		cfg:      cfg,
		byAddr:   make(map[string]*endpoint),
		subConns: make(map[*subConn]bool),
		wakeup:   make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	b.params.Store(newCallParams(cfg))
	go b.run()
	return b
}

// defaults is the config of a service config that names the policy
// without one.
func defaults() *Config {
	cfg, _ := ParseConfig(nil)
	return cfg
}

// outlierBalancer wraps a child policy. The child creates its SubConns
// through childConn, which wraps them (subConn); the policy hides ejected
// endpoints from the child by telling it their SubConns are in
// TRANSIENT_FAILURE, and wraps the child's pickers to count the calls'
// outcomes per endpoint.
//
// Lock order: childMu, then mu. Nothing is called on the child with mu
// held.
type outlierBalancer struct {
	cc     balancer.ClientConn
	opts   balancer.BuildOptions
	params atomic.Pointer[callParams] // read by pickers' Done
	// ejections counts the times a SubConn's ejectedCopy was set: an
	// rrPicker built before the last one reads each pick's flag.
	ejections atomic.Uint64
	// why the set is empty, for the calls a child such as round_robin
	// fails with "no children to pick from"
	resolverErr resolvererr.Keeper

	// childMu serializes every call into the child: its Balancer methods
	// and its SubConns' state and health listeners, which come from gRPC's
	// goroutine and from run.
	childMu   sync.Mutex
	child     balancer.Balancer // nil once closed
	childName string

	mu         sync.Mutex
	gen        int // generation of the current child; written under both mutexes
	closed     bool
	cfg        *Config
	endpoints  epmap.Map[*endpoint]
	byAddr     map[string]*endpoint
	numEjected int
	subConns   map[*subConn]bool // the live SubConns of the children
	// subConnSlab is what is left of the block new subConns come from
	// (allocSubConnLocked).
	subConnSlab []subConn
	health      []healthUpdate // for run to deliver to the child

	wakeup chan struct{} // wakes run to deliver ejections and health updates
	quit   chan struct{} // closed by Close
	done   chan struct{} // closed when run returns
}

func (b *outlierBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, err := policy.Config(s.BalancerConfig, defaults, Name, logger)
	if err != nil {
		return err
	}
	b.resolverErr.Update(s.ResolverState)

	b.childMu.Lock()
	defer b.childMu.Unlock()
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil
	}
	if b.child == nil || b.childName != cfg.ChildPolicy.Name {
		bb := balancer.Get(cfg.ChildPolicy.Name)
		if bb == nil {
			return fmt.Errorf("%s: child policy %q is not registered", Name, cfg.ChildPolicy.Name)
		}
		// gRPC's graceful switch is internal to grpc-go: a new child
		// policy replaces the old one at once. A new generation first, so
		// that nothing the old one does from now on reaches the channel.
		b.mu.Lock()
		b.gen++
		gen := b.gen
		b.mu.Unlock()
		if b.child != nil {
			b.child.Close()
		}
		cc := &childConn{ClientConn: b.cc, b: b, gen: gen, roundRobin: cfg.ChildPolicy.Name == roundrobin.Name}
		b.child = bb.Build(cc, b.opts)
		b.childName = cfg.ChildPolicy.Name
	}

	b.mu.Lock()
	b.cfg = cfg
	b.params.Store(newCallParams(cfg))
	b.setEndpointsLocked(s.ResolverState.Endpoints)
	b.mu.Unlock()
	b.wake() // the interval may have changed

	return b.child.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  s.ResolverState,
		BalancerConfig: cfg.ChildPolicy.Config,
	})
}

// setEndpointsLocked makes eps the endpoints, keeping what is known of
// those already there.
func (b *outlierBalancer) setEndpointsLocked(eps []resolver.Endpoint) {
	byAddr := make(map[string]*endpoint, len(eps))
	b.endpoints.Begin()
	for _, ep := range eps {
		slot, existed := b.endpoints.Keep(ep)
		if !existed {
			*slot = b.newEndpoint(endpointName(ep))
		}
		for _, a := range ep.Addresses {
			if _, taken := byAddr[a.Addr]; !taken {
				byAddr[a.Addr] = *slot
			}
		}
	}
	b.endpoints.EndFunc(func(e *endpoint) {
		e.removed = true
		if e.ejected.Load() {
			b.setEjectedLocked(e, false)
			b.numEjected--
		}
	})
	b.byAddr = byAddr
	// An address may have moved to another endpoint, or left.
	for sc := range b.subConns {
		b.linkLocked(sc)
	}
}

func endpointName(ep resolver.Endpoint) string {
	addrs := make([]string, len(ep.Addresses))
	for i, a := range ep.Addresses {
		addrs[i] = a.Addr
	}
	return "[" + strings.Join(addrs, " ") + "]"
}

func (b *outlierBalancer) ResolverError(err error) {
	b.resolverErr.Error(err)
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if b.child != nil {
		b.child.ResolverError(err)
	}
}

func (b *outlierBalancer) UpdateSubConnState(sc balancer.SubConn, state balancer.SubConnState) {
	logger.Errorf("%s: UpdateSubConnState(%v, %+v) called unexpectedly", Name, sc, state)
}

func (b *outlierBalancer) ExitIdle() {
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if b.child != nil {
		b.child.ExitIdle()
	}
}

func (b *outlierBalancer) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	<-b.done
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if b.child != nil {
		b.child.Close()
		b.child = nil
	}
}

// wake asks run to deliver what is pending.
func (b *outlierBalancer) wake() {
	select {
	case b.wakeup <- struct{}{}:
	default:
	}
}

// run runs the detectors every interval, un-ejects endpoints when their
// time is up, and delivers ejections and health updates to the child,
// until Close.
func (b *outlierBalancer) run() {
	defer close(b.done)
	b.mu.Lock()
	interval := b.cfg.Interval
	b.mu.Unlock()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-b.wakeup:
		case <-tick.C:
			b.mu.Lock()
			b.sweepLocked(time.Now())
			b.mu.Unlock()
		case <-due.C:
			b.mu.Lock()
			b.unejectDueLocked(time.Now())
			b.mu.Unlock()
		}
		b.deliver()

		b.mu.Lock()
		if b.cfg.Interval != interval {
			interval = b.cfg.Interval
			tick.Reset(interval)
		}
		next := b.nextDueLocked()
		b.mu.Unlock()
		if next.IsZero() {
			due.Stop()
		} else {
			due.Reset(time.Until(next))
		}
	}
}

// sweepLocked is A50's interval algorithm: it ends the interval, runs the
// successRate and failurePercentage detectors, and decays the ejection
// multipliers of the endpoints that are not ejected.
func (b *outlierBalancer) sweepLocked(now time.Time) {
	eps := b.endpoints.Values()
	ws := make([]window, len(eps))
	for i, e := range eps {
		e.rotate()
		ws[i] = e.window
	}
	if sr := b.cfg.SuccessRate; sr != nil {
		for _, i := range successRateOutliers(ws, sr) {
			b.ejectOutlierLocked(eps[i], sr.EnforcementPercentage, now, "success rate")
		}
	}
	if fp := b.cfg.FailurePercentage; fp != nil {
		for _, i := range failurePercentageOutliers(ws, fp) {
			b.ejectOutlierLocked(eps[i], fp.EnforcementPercentage, now, "failure percentage")
		}
	}
	for _, e := range eps {
		if !e.ejected.Load() && e.multiplier > 0 {
			e.multiplier--
		}
	}
	b.unejectDueLocked(now)
}

// ejectOutlierLocked ejects an endpoint an interval detector found, unless
// it is ejected already, too many are, or enforcement says no.
func (b *outlierBalancer) ejectOutlierLocked(e *endpoint, enforcement int, now time.Time, detector string) {
	if e.ejected.Load() {
		return
	}
	w := e.window
	if !mayEject(b.numEjected, b.endpoints.Len(), b.cfg.MaxEjectionPercent) {
		logger.Infof("%s: endpoint %s is an outlier by %s (%d of %d calls failed) but %d of %d endpoints are ejected already (maxEjectionPercent %d)",
			Name, e.name, detector, w.failures, w.volume(), b.numEjected, b.endpoints.Len(), b.cfg.MaxEjectionPercent)
		return
	}
	if rand.IntN(100) >= enforcement {
		return
	}
	b.ejectLocked(e, now, fmt.Sprintf("%s: %d of %d calls failed in the last interval", detector, w.failures, w.volume()))
}

// ejectForConsecutiveFailures ejects an endpoint whose last n calls
// failed, if it may be. It is called from a call's Done.
func (b *outlierBalancer) ejectForConsecutiveFailures(e *endpoint, n uint32) {
	b.mu.Lock()
	cf := b.cfg.ConsecutiveFailures
	ok := !b.closed && !e.removed && !e.ejected.Load() && cf != nil && n >= uint32(cf.Threshold) &&
		mayEject(b.numEjected, b.endpoints.Len(), b.cfg.MaxEjectionPercent)
	if ok {
		b.ejectLocked(e, time.Now(), fmt.Sprintf("%d consecutive calls failed", n))
	}
	b.mu.Unlock()
	if ok {
		b.wake()
	}
}

func (b *outlierBalancer) ejectLocked(e *endpoint, now time.Time, reason string) {
	e.multiplier++
	d := ejectionTime(b.cfg.BaseEjectionTime, b.cfg.MaxEjectionTime, e.multiplier)
	e.until = now.Add(d)
	e.consecutive.Store(0)
	b.setEjectedLocked(e, true)
	b.numEjected++
	logger.Infof("%s: ejected endpoint %s for %v (%s)", Name, e.name, d, reason)
}

// setEjectedLocked ejects or un-ejects e, and tells e's SubConns, whose
// copy of the flag is what a pick reads (see subConn.ejectedCopy).
func (b *outlierBalancer) setEjectedLocked(e *endpoint, ejected bool) {
	e.ejected.Store(ejected)
	for sc := range b.subConns {
		if sc.ep.Load() == e {
			b.setCopyLocked(sc, ejected)
		}
	}
}

// setCopyLocked sets sc's copy of its endpoint's ejection flag, and counts
// the flags set (ejections), which tells an rrPicker that its entries may
// hold an ejected endpoint.
func (b *outlierBalancer) setCopyLocked(sc *subConn, ejected bool) {
	sc.ejectedCopy.Store(ejected)
	if ejected {
		b.ejections.Add(1)
	}
}

// unejectDueLocked un-ejects the endpoints whose ejection time is up.
func (b *outlierBalancer) unejectDueLocked(now time.Time) {
	for _, e := range b.endpoints.All() {
		if e.ejected.Load() && !now.Before(e.until) {
			b.setEjectedLocked(e, false)
			e.consecutive.Store(0)
			e.until = time.Time{}
			b.numEjected--
			logger.Infof("%s: endpoint %s is back after its ejection", Name, e.name)
		}
	}
}

// nextDueLocked returns when the next ejected endpoint is due back, or
// zero if none is ejected.
func (b *outlierBalancer) nextDueLocked() time.Time {
	var next time.Time
	for _, e := range b.endpoints.All() {
		if e.ejected.Load() && (next.IsZero() || e.until.Before(next)) {
			next = e.until
		}
	}
	return next
}

// deliver hands the queued health updates to the child and tells it of
// the ejections and un-ejections it has not heard of.
func (b *outlierBalancer) deliver() {
	b.mu.Lock()
	updates := b.health
	b.health = nil
	scs := make([]*subConn, 0, len(b.subConns))
	for sc := range b.subConns {
		scs = append(scs, sc)
	}
	b.mu.Unlock()

	b.childMu.Lock()
	defer b.childMu.Unlock()
	for _, u := range updates {
		if b.currentLocked(u.sc) {
			u.sc.healthLocked(u.gen, u.state)
		}
	}
	for _, sc := range scs {
		if b.currentLocked(sc) {
			sc.syncLocked()
		}
	}
}

// currentLocked reports whether sc belongs to the current child. The
// caller holds childMu.
func (b *outlierBalancer) currentLocked(sc *subConn) bool {
	return b.child != nil && sc.gen == b.gen
}
