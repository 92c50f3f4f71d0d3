package wrr

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/grpclog"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/policy"
	"github.com/grpclb/grpclb/internal/slowstart"
)

// Name is the name of the policy in a service config's loadBalancingConfig.
// (grpc-go's own "weighted_round_robin" takes its weights from ORCA load
// reports; this one takes them from the resolver.)
const Name = "wrr"

var logger = grpclog.Component("wrr")

// minRebuildInterval bounds how often pickers are rebuilt during a ramp: at
// most every window/20, and no more often than this.
const minRebuildInterval = 100 * time.Millisecond

func init() {
	policy.Register(Name, ParseConfig, newBalancer)
}

// wrrBalancer is a petiole policy: its UpdateState intercepts the
// aggregated state of its endpointsharding child, and everything else goes
// to that child.
type wrrBalancer struct {
	policy.Petiole

	mu  sync.Mutex
	cfg *Config
	// ramps knows when each endpoint's slow-start ramp started, across
	// pickers and reconnections (see slowstart).
	ramps slowstart.Tracker
	// ready are the READY endpoints as of the children's last update; the
	// picker is built from them, again on every tick of a ramp.
	ready []readyEndpoint
	// timer rebuilds the picker while some endpoint ramps up; nil when no
	// rebuild is due. timerSeq tells a stopped timer's late run from the
	// current one's.
	timer    *time.Timer
	timerDue time.Time
	timerSeq uint64
	closed   bool
}

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &wrrBalancer{cfg: defaultConfig()}
	b.Start(cc, b, opts, Name, logger)
	return b
}

// readyEndpoint is a READY endpoint as pickers are built from it.
type readyEndpoint struct {
	picker balancer.Picker // its pick_first child's READY picker
	weight uint32          // endpoint.Weight, at least 1
	// rampStart is when its slow-start ramp started.
	rampStart time.Time
}

// UpdateClientConnState sets the config of the next picker, which the
// children's update builds with their new weights.
func (b *wrrBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	return policy.UpdateConfig(&b.Petiole, ccs, defaultConfig, func(cfg *Config) {
		b.mu.Lock()
		b.cfg = cfg
		b.mu.Unlock()
	})
}

// Close stops the ramp's timer (a run already under way finds the balancer
// closed and does nothing) and closes the children.
func (b *wrrBalancer) Close() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	b.Petiole.Close()
}

// UpdateState receives the aggregated state of the endpointsharding child
// and, when some endpoints are READY, publishes a weighted picker over them.
func (b *wrrBalancer) UpdateState(state balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(state.Picker)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	now := time.Now()
	starts := b.ramps.Update(now, children)
	var ready []readyEndpoint
	for i, c := range children {
		if c.State.ConnectivityState == connectivity.Ready {
			ready = append(ready, readyEndpoint{picker: c.State.Picker, weight: endpoint.Weight(c.Endpoint), rampStart: starts[i]})
		}
	}
	b.ready = ready

	if len(ready) == 0 {
		b.Forward(state) // nothing READY: endpointsharding's picker
		return
	}
	b.publishLocked(now)
}

// publishLocked sends a picker over the READY endpoints with their weights
// at now and, if some of them are still ramping up, sets the timer to do it
// again.
func (b *wrrBalancer) publishLocked(now time.Time) {
	p, next := b.pickerLocked(now)
	b.ClientConn.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: p})
	if next > 0 {
		b.scheduleLocked(now, next)
	}
}

// pickerLocked builds a picker over b.ready with their weights at now. next
// is when to build the next one, from now: the rebuild interval, or sooner
// if a ramp ends sooner; 0 if no endpoint is ramping up.
func (b *wrrBalancer) pickerLocked(now time.Time) (p *picker, next time.Duration) {
	ss := &b.cfg.SlowStart
	weights := make([]uint32, len(b.ready))
	pickers := make([]balancer.Picker, len(b.ready))
	var factors []float64
	for i, e := range b.ready {
		weights[i], pickers[i] = e.weight, e.picker
		if !ss.Enabled() {
			continue
		}
		age := now.Sub(e.rampStart)
		if age >= ss.Window {
			continue
		}
		if factors == nil {
			factors = make([]float64, len(b.ready))
			for j := range factors {
				factors[j] = 1
			}
		}
		factors[i] = ss.Factor(age)
		step := max(ss.Window/20, minRebuildInterval)
		if next == 0 || step < next {
			next = step
		}
		if left := ss.Window - age; left < next {
			next = left
		}
	}
	p = &picker{pickers: pickers, steady: make([]balancer.SubConn, len(pickers)), table: layout(slotCounts(weights, factors))}
	for i, cp := range pickers {
		p.steady[i] = policy.SteadySubConn(cp)
	}
	p.next.Store(rand.Uint32()) // clients that start together start apart
	return p, next
}

// scheduleLocked sets the timer to rebuild the picker after d, unless it
// is already due by then.
func (b *wrrBalancer) scheduleLocked(now time.Time, d time.Duration) {
	due := now.Add(d)
	if b.closed || (b.timer != nil && !due.Before(b.timerDue)) {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timerSeq++
	seq := b.timerSeq
	b.timerDue = due
	b.timer = time.AfterFunc(d, func() { b.tick(seq) })
}

// tick rebuilds the picker during a ramp.
func (b *wrrBalancer) tick(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || seq != b.timerSeq || b.timer == nil {
		return // closed, or a timer that was replaced
	}
	b.timer = nil
	if len(b.ready) == 0 {
		return // the channel has endpointsharding's picker; no ramp
	}
	b.publishLocked(time.Now())
}

// picker is immutable but for its counter: a weighted round robin over a
// table in which each READY endpoint appears in proportion to its weight.
type picker struct {
	pickers []balancer.Picker // READY children's pickers, by endpoint index
	// steady holds, by endpoint index, the SubConn each READY child's
	// picker returns to every pick (policy.SteadySubConn), or nil where
	// the child's picker must be called: with 10,000 endpoints, calling
	// it reads a record of its own per pick, a likely CPU cache miss,
	// where this array (16 bytes an endpoint) stays in the cache.
	steady []balancer.SubConn
	table  []uint32 // endpoint indexes, see layout
	// next counts picks. It is 32 bits, as round_robin's, for a cheaper
	// modulo: when it wraps, every 2^32 picks, the walk jumps once.
	next atomic.Uint32
}

// Pick returns the endpoint in the next slot of the table. It neither locks
// nor allocates.
func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	i := p.next.Add(1) % uint32(len(p.table))
	idx := p.table[i]
	if sc := p.steady[idx]; sc != nil {
		return balancer.PickResult{SubConn: sc}, nil
	}
	return p.pickers[idx].Pick(info)
}
