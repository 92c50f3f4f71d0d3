package p2c

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/grpclog"

	"github.com/grpclb/grpclb/internal/epmap"
	"github.com/grpclb/grpclb/internal/policy"
	"github.com/grpclb/grpclb/internal/slowstart"
)

// Name is the name of the policy in a service config's loadBalancingConfig.
const Name = "p2c_ewma"

var logger = grpclog.Component("p2c_ewma")

func init() {
	trackers.New = newTracker
	policy.Register(Name, ParseConfig, newBalancer)
}

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &p2cBalancer{
		params: newParams(defaultConfig()),
	}
	b.Start(cc, b, opts, Name, logger)
	return b
}

// p2cBalancer is a petiole policy: its UpdateState intercepts the
// aggregated state of its endpointsharding child, and everything else goes
// to that child.
type p2cBalancer struct {
	policy.Petiole

	mu     sync.Mutex
	params *params
	// stats of every READY endpoint. An endpoint that leaves READY (it
	// reconnects after a GOAWAY, its backend restarted or failed) or leaves
	// the resolver's list is forgotten: when it is READY again it starts
	// afresh, as a new endpoint does.
	stats epmap.Map[*endpointStats]
	// ramps knows when each endpoint's slow-start ramp started, which a
	// reconnection does not always reset (see slowstart).
	ramps slowstart.Tracker
}

// UpdateClientConnState sets the params of the next picker, which the
// children's update builds.
func (b *p2cBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	return policy.UpdateConfig(&b.Petiole, ccs, defaultConfig, func(cfg *Config) {
		b.mu.Lock()
		b.params = newParams(cfg)
		b.mu.Unlock()
	})
}

// UpdateState receives the aggregated state of the endpointsharding child
// and, when some endpoints are READY, publishes a P2C picker over them.
func (b *p2cBalancer) UpdateState(state balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(state.Picker)

	b.mu.Lock()
	defer b.mu.Unlock()
	now := nanotime()
	starts := b.ramps.Update(timeOf(now), children)
	ss := &b.params.slowStart
	var prior endpointPrior // of new endpoints, computed when one is seen
	priorSet := false
	b.stats.Begin()
	ready := make([]pickEndpoint, 0, len(children))
	pickers := make([]balancer.Picker, 0, len(children))
	for i, c := range children {
		if c.State.ConnectivityState != connectivity.Ready {
			continue
		}
		slot, ok := b.stats.Keep(c.Endpoint)
		if !ok {
			if !priorSet {
				prior, priorSet = b.priorLocked(), true
			}
			*slot = newEndpointStats(prior, now)
		}
		s := *slot
		var rampStart int64
		if start := nanotimeOf(starts[i]); ss.Enabled() && now-start < int64(ss.Window) {
			rampStart = start // still ramping up
		}
		ready = append(ready, newPickEndpoint(c.State.Picker, s, rampStart))
		pickers = append(pickers, c.State.Picker)
	}
	b.stats.End()

	if len(ready) == 0 {
		b.Forward(state) // nothing READY: endpointsharding's picker
		return
	}
	b.ClientConn.UpdateState(balancer.State{
		ConnectivityState: connectivity.Ready,
		Picker:            &picker{endpoints: ready, pickers: pickers, params: b.params},
	})
}

// endpointPrior is what a new endpoint is taken to be until its own calls
// tell: its latency and its usual gap between picks.
type endpointPrior struct {
	rtt float64 // ns
	gap int64   // ns, negated: a prior, which the first measured gap replaces
}

// priorLocked returns the prior of a new endpoint: like the others, the
// median EWMA of the endpoints sampled so far (DefaultRTT when there are
// none) and the median of the gaps between picks that they have measured
// (none when none has: staleAfter's floor then applies). A new backend thus gets
// calls at once under load, and if its first call is slow it is probed
// again after a few of the others' usual gaps; a DefaultRTT well above a
// fast fleet's latency would keep it out until its prior decayed.
func (b *p2cBalancer) priorLocked() endpointPrior {
	var rtts []float64
	var gaps []int64
	for _, s := range b.stats.Values() {
		if s == nil {
			continue // the new endpoint's slot, which this prior fills
		}
		if s.sampled.Load() {
			rtts = append(rtts, s.load())
		}
		if g := s.gap.Load(); g > 0 {
			gaps = append(gaps, g)
		}
	}
	prior := endpointPrior{rtt: b.params.defaultRTT}
	if len(rtts) > 0 {
		slices.Sort(rtts)
		prior.rtt = rtts[len(rtts)/2]
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		prior.gap = -gaps[len(gaps)/2]
	}
	return prior
}

// pickEndpoint is a READY endpoint as a pick reads it: 32 bytes, two to a
// cache line (its child's picker, which a pick rarely needs, is kept
// apart: at 48 bytes, every other entry straddled two lines, and with
// 10,000 endpoints each line a pick reads is a likely cache miss).
type pickEndpoint struct {
	stats *endpointStats
	// rampStart is when the endpoint's slow-start ramp started (nanotime)
	// if it was still ramping up when the picker was made; 0 otherwise.
	rampStart int64
	// fixedSC is the child's pick result's SubConn when the result is
	// always the same (and has no Done or Metadata); nil otherwise. Only
	// the SubConn is kept, so that an entry stays within a cache line.
	fixedSC balancer.SubConn
}

// newPickEndpoint makes a READY endpoint's entry. A pick_first child's
// READY picker answers every pick with the same result (its SubConn, no
// Done): when one pick shows that, the result is kept and the child is not
// called again on the hot path, saving an indirect call and the cache
// misses of reaching the child's picker. (grpc-go rebuilds this picker
// whenever a child's state or picker changes.)
func newPickEndpoint(child balancer.Picker, s *endpointStats, rampStart int64) pickEndpoint {
	e := pickEndpoint{stats: s, rampStart: rampStart}
	if res, err := child.Pick(balancer.PickInfo{Ctx: context.Background()}); err == nil && res.SubConn != nil && res.Done == nil && res.Metadata == nil {
		e.fixedSC = res.SubConn
	}
	return e
}

// weight is the endpoint's slow-start weight at now, in (0, 1]: 1 unless it
// is still ramping up.
func (e *pickEndpoint) weight(now int64, p *params) float64 {
	if e.rampStart == 0 {
		return 1
	}
	return p.slowStart.Factor(time.Duration(now - e.rampStart))
}

// picker is immutable; the stats it points to are shared with the balancer
// and with the pickers before and after it.
type picker struct {
	endpoints []pickEndpoint    // READY, at least one
	pickers   []balancer.Picker // their pick_first children's READY pickers, by the same index
	params    *params
}

// Pick samples two distinct READY endpoints at random and returns the
// better of the two (see choose). It neither locks nor allocates.
func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	res, _, err := p.pick(info, nanotime())
	return res, err
}

// pick is Pick at the given time; it also returns the call's tracker, so
// that tests can finish calls on a clock of their own.
func (p *picker) pick(info balancer.PickInfo, now int64) (balancer.PickResult, *tracker, error) {
	e, k := &p.endpoints[0], uint64(0)
	if n := uint64(len(p.endpoints)); n > 1 {
		// Two indexes from one random number: i uniform in [0, n), j uniform
		// in [0, n) without i. (Multiply-shift maps 32 random bits onto
		// [0, n) with a bias below n/2^32.)
		r := rand.Uint64()
		i := (r >> 32) * n >> 32
		j := (r & (1<<32 - 1)) * (n - 1) >> 32
		if j >= i {
			j++
		}
		a, c := &p.endpoints[i], &p.endpoints[j]
		if p.choose(a, c, now) {
			a, c, i = c, a, j
		}
		a.stats.advance(c.stats, a.weight(now, p.params))
		e, k = a, i
	}
	res := balancer.PickResult{SubConn: e.fixedSC}
	if e.fixedSC == nil {
		var err error
		if res, err = p.pickers[k].Pick(info); err != nil {
			return res, nil, err
		}
	}
	e.stats.start(now)
	t := trackers.Get().(*tracker)
	t.stats, t.params, t.start, t.childDone = e.stats, p.params, now, res.Done
	res.Done = t.done
	return res, t, nil
}

// choose reports whether c is the better of two distinct endpoints a and
// c at now:
//
//  1. An endpoint due a probe (no sample yet, or no pick and no sample for
//     a few of its usual gaps between picks, nothing in flight) is taken,
//     once: what is known of it is stale, and only a call tells whether a
//     backend that was slow, failing or frozen has recovered.
//  2. Otherwise, if one endpoint's latency (divided by its slow-start
//     weight) is more than Tolerance times the other's, the cheaper by
//     latency × load is taken: a slow, stalled or overloaded backend is
//     avoided.
//  3. Otherwise the two count as alike: the one with fewer calls in flight
//     is taken, and if they have as many, the one whose turn it is (the
//     smaller pass). Noise in the latencies of identical backends thus
//     never decides: they take turns, and share calls as evenly as round
//     robin would.
func (p *picker) choose(a, c *pickEndpoint, now int64) bool {
	sa, sc := a.stats, c.stats
	la, na := sa.latency(now, p.params.invDecay)
	lc, nc := sc.latency(now, p.params.invDecay)
	wa, wc := a.weight(now, p.params), c.weight(now, p.params)
	if sa.probeDue(now, na, wa, p.params) && sa.claimProbe(now) {
		return false
	}
	if sc.probeDue(now, nc, wc, p.params) && sc.claimProbe(now) {
		return true
	}
	// Slow start: a ramping endpoint looks slower, and its turns come
	// less often, by its weight.
	la, lc = la/wa, lc/wc
	if tol := p.params.tolerance; la > tol*lc || lc > tol*la {
		// Clearly different latencies: the cheaper by latency × load.
		return cost(la, na, nc) > cost(lc, nc, na)
	}
	if ra, rc := float64(na)/wa, float64(nc)/wc; ra != rc {
		return rc < ra
	}
	return sc.behind(sa)
}

// tracker carries one call from Pick to Done. Trackers are pooled and their
// Done method value is bound once, when the tracker is made, so that a
// pick allocates no closure.
type tracker struct {
	stats     *endpointStats
	params    *params
	start     int64                   // nanotime at Pick
	childDone func(balancer.DoneInfo) // the child picker's Done, if any
	done      func(balancer.DoneInfo) // t.finish
}

// trackers holds idle trackers. (Its New is set in init: finish refers to
// trackers, which would otherwise be an initialization cycle.)
var trackers sync.Pool

func newTracker() any {
	t := new(tracker)
	t.done = t.finish
	return t
}

// finish is the Done of a pick: it folds the call's latency into the
// endpoint's EWMA, then counts the call out. gRPC calls Done exactly once
// per successful pick, after which the tracker is reused.
func (t *tracker) finish(info balancer.DoneInfo) { t.finishAt(info, nanotime()) }

// finishAt is finish at the given time.
func (t *tracker) finishAt(info balancer.DoneInfo, now int64) {
	s, p, start, childDone := t.stats, t.params, t.start, t.childDone
	*t = tracker{done: t.done}
	trackers.Put(t)

	if rtt, o := sample(info, float64(now-start), p.penalty); o != skipped {
		s.observe(rtt, now, p, o)
	}
	// After the sample, so a pick that sees the endpoint idle sees the
	// EWMA of the call that made it idle.
	s.inFlight.Add(-1)
	if childDone != nil {
		childDone(info)
	}
}
