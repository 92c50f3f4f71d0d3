package p2c

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// epoch is the origin of nanotime, less nanoBias.
var epoch = time.Now()

// nanoBias is added to every reading of nanotime, so that readings are
// positive (0 stands for "never" in endpointStats and pickEndpoint) even
// inside a testing/synctest bubble. There time.Now is the bubble's fake
// clock, which starts at 2000-01-01 UTC and has no monotonic reading, so
// time.Since(epoch) is the wall-clock time since epoch, taken outside the
// bubble: negative by decades, though its differences are exact virtual
// time. 2^62 ns is 146 years: room for that, and for a process's uptime.
const nanoBias = 1 << 62

// nanotime reads the monotonic clock, in nanoseconds since epoch plus
// nanoBias. It is the cheapest clock reading the standard library offers
// (time.Since uses only the monotonic clock), and Pick and Done each read
// it once. In a testing/synctest bubble it reads the bubble's clock.
func nanotime() int64 { return int64(time.Since(epoch)) + nanoBias }

// timeOf returns the time of the nanotime reading ns.
func timeOf(ns int64) time.Time { return epoch.Add(time.Duration(ns - nanoBias)) }

// nanotimeOf returns the nanotime reading of t, a time from timeOf.
func nanotimeOf(t time.Time) int64 { return int64(t.Sub(epoch)) + nanoBias }

// minPull is the least weight a sample gets (see observe).
const minPull = 1.0 / 8

// minRTT is the smallest latency a sample counts as, so that an EWMA never
// reaches zero, where it would make the in-flight factor of the cost vanish.
const minRTT = float64(time.Microsecond)

// params are a picker's settings in the units the hot path wants. They are
// immutable; a config update makes new ones.
type params struct {
	invDecay   float64 // 1 / Decay in nanoseconds
	penalty    float64 // ErrorPenalty in nanoseconds
	defaultRTT float64 // DefaultRTT in nanoseconds
	probe      int64   // ProbeInterval in nanoseconds
	tolerance  float64 // Tolerance
	slowStart  SlowStart
}

func newParams(cfg *Config) *params {
	return &params{
		invDecay:   1 / float64(cfg.Decay),
		penalty:    float64(cfg.ErrorPenalty),
		defaultRTT: float64(cfg.DefaultRTT),
		probe:      int64(cfg.ProbeInterval),
		tolerance:  cfg.Tolerance,
		slowStart:  cfg.SlowStart,
	}
}

// endpointStats is what the balancer knows of one connection to an
// endpoint: its calls in flight, the EWMA of its latency and when it was
// last picked. Picks read it without locking; picks and finished calls
// update it with atomic operations.
//
// Stats belong to one incarnation of the endpoint: when it reconnects
// (after a restart, a GOAWAY, a network failure) the balancer makes new
// ones, so a restarted backend does not inherit the penalty its previous
// process earned. Calls still finishing on the old connection update the
// old stats, which nothing reads any more.
//
// It fills one 64-byte cache line (the allocator's 64-byte size class is
// line-aligned), so calls to different endpoints do not contend.
type endpointStats struct {
	inFlight  atomic.Int64
	ewma      atomic.Uint64 // float64 bits: the EWMA of latency, in ns
	last      atomic.Int64  // nanotime of the last sample, or of creation
	busySince atomic.Int64  // nanotime of the last pick that found nothing in flight
	lastPick  atomic.Int64  // nanotime of the last pick; 0: never picked
	gap       atomic.Int64  // EWMA of the time between two picks, in ns; negated while only a prior
	// sampled is set by the first sample, which replaces the prior the
	// stats were made with instead of being averaged with it.
	sampled atomic.Bool
	// pass is the endpoint's place in the turns that endpoints of equal
	// cost take (stride scheduling): each pick adds passStride divided by
	// the endpoint's slow-start weight. It wraps around; passes are
	// compared by their difference.
	pass atomic.Int32
	_    [8]byte // to a cache line
}

// passStride is what a pick adds to the pass of an endpoint of weight 1,
// and passSlack how far behind its rival's pass an endpoint's may be when
// it is picked: an endpoint back from a freeze, an ejection or a long
// avoidance has missed many turns, and is given only passSlack/passStride
// of them back rather than every tie until it has caught up.
const (
	passStride = 1 << 10
	passSlack  = 4 * passStride
)

// advance moves the endpoint's pass on by one pick of weight w, first
// catching it up to within passSlack of its rival's pass.
func (s *endpointStats) advance(rival *endpointStats, w float64) {
	if floor := rival.pass.Load() - passSlack; s.pass.Load()-floor < 0 {
		s.pass.Store(floor)
	}
	s.pass.Add(int32(passStride / w))
}

// behind reports whether s's pass is behind (smaller than) r's.
func (s *endpointStats) behind(r *endpointStats) bool { return s.pass.Load()-r.pass.Load() < 0 }

// probeGaps is how many of its usual gaps between picks an endpoint may go
// unpicked before it is probed (within the probe interval).
const probeGaps = 4

func newEndpointStats(prior endpointPrior, now int64) *endpointStats {
	s := new(endpointStats)
	s.ewma.Store(math.Float64bits(prior.rtt))
	s.last.Store(now)
	s.gap.Store(prior.gap) // until picks tell
	return s
}

// load returns the EWMA, in ns.
func (s *endpointStats) load() float64 { return math.Float64frombits(s.ewma.Load()) }

// latency is the endpoint's latency as the picker sees it at now, and its
// calls in flight: the EWMA, adjusted for what happened since the last
// sample.
//
// An endpoint with nothing in flight is seen with its EWMA decayed towards
// zero by the time since its last sample, as if samples of zero latency had
// arrived meanwhile (Finagle and Linkerd decay the same way), so that an
// estimate a little above its rivals' drifts back among them.
//
// An endpoint with calls in flight is not decayed: it gets news of itself
// when they finish. Until then, if it has been stalled (calls in flight,
// none finished) for longer than its EWMA, the stall time counts as its
// latency: the peak EWMA's "react to slowness at once", applied to calls
// that have not finished yet. A backend that stops answering (frozen,
// blackholed) thus gets dearer with every millisecond, rather than only
// with every call stuck on it.
func (s *endpointStats) latency(now int64, invDecay float64) (float64, int64) {
	e := s.load()
	n := s.inFlight.Load()
	if n == 0 {
		return e * decayFactor(now-s.last.Load(), invDecay), 0
	}
	if stall := float64(now - max(s.last.Load(), s.busySince.Load())); stall > e {
		e = stall
	}
	return e, n
}

// cost is the load of an endpoint of latency l with n calls in flight,
// when its rival has nr in flight:
//
//	latency × (in-flight + m),  m = 1 + the mean in-flight of the two
//
// With nothing in flight on either this is latency × (in-flight + 1),
// Finagle's and Linkerd's cost. Under load, m keeps latency in the
// comparison: with a plain + 1, 64 callers on 4 backends (16 calls in
// flight each) would rate an idle backend 16× slower as no dearer than a
// busy healthy one; with + m, calls in flight can make up for at most 3×
// the latency (n = 0 and nr = 2(m - 1): the factors are m and 3m - 2).
func cost(l float64, n, nr int64) float64 {
	return l * (float64(n) + float64(n+nr)/2 + 1)
}

// start counts a call in, picked at now, and folds the time since the
// previous pick into the usual gap between picks (weight 1/8).
func (s *endpointStats) start(now int64) {
	if s.inFlight.Add(1) == 1 {
		s.busySince.Store(now)
	}
	s.foldGap(s.lastPick.Swap(now), now)
}

// foldGap folds a gap between picks at prev and now into the usual gap
// (the first one measured replaces the prior). A probe's pick, already
// stored by claimProbe, is folded there (prev == now here).
func (s *endpointStats) foldGap(prev, now int64) {
	if prev == 0 || now <= prev {
		return
	}
	if g := s.gap.Load(); g > 0 {
		s.gap.Store(g + (now-prev-g)/8)
	} else {
		s.gap.Store(now - prev)
	}
}

// staleAfter is how long the endpoint may go without news before what is
// known of it is stale: probeGaps of its usual gaps between picks, at least
// a hundredth of the probe interval and at most all of it. An identical
// backend that one hiccup made look slow is thus probed again after a few
// of its turns; a backend that stays slow or failing sees its gap, and so
// its probes' spacing, grow with every probe (each probe's gap counts), up
// to the probe interval.
func (s *endpointStats) staleAfter(p *params) int64 {
	g := s.gap.Load()
	if g < 0 {
		g = -g // a prior
	}
	return min(max(probeGaps*g, p.probe/100), p.probe)
}

// probeDue reports whether the next pick that meets the endpoint must take
// it, whatever its cost: it has nothing in flight, and either it has no
// sample yet (a new endpoint gets a call at once, and learns its latency)
// or it has had neither a pick nor a sample for staleAfter, divided by its
// slow-start weight w (a cold endpoint ramping up is probed less often).
func (s *endpointStats) probeDue(now int64, n int64, w float64, p *params) bool {
	if n != 0 {
		return false
	}
	if !s.sampled.Load() {
		return true
	}
	idle := now - max(s.lastPick.Load(), s.last.Load())
	return float64(idle)*w >= float64(s.staleAfter(p))
}

// claimProbe makes the endpoint's probe this pick's, reporting false if
// another pick got there first (it then sees a fresh lastPick).
func (s *endpointStats) claimProbe(now int64) bool {
	old := s.lastPick.Load()
	if now-old <= 0 || !s.lastPick.CompareAndSwap(old, now) {
		return false
	}
	s.foldGap(old, now)
	return true
}

// observe folds a sample of rtt ns taken at now into the EWMA, as the
// outcome of a call that was answered or failed:
//
//   - The first sample replaces the prior.
//   - An answered call after staleAfter without a sample lowers the
//     estimate to its latency if that is lower, and otherwise is averaged
//     in like any sample: evidence older than that is stale, and a
//     backend that was slow, failing or frozen and has recovered must not
//     wait for an old penalty to decay away. This is what gives a thawed
//     backend its share back within a probe. Stale evidence is forgotten
//     only in the backend's favour: the first call after a pause is often
//     slow for reasons of the caller's own (a thread descheduled, a
//     connection's goroutines parked while it was idle), and when such a
//     call replaced a good estimate with a bad one it pushed an identical
//     backend out of the tolerance band, where every probe, being again a
//     first call after a pause, risked the same (on a busy 2-core machine
//     one of three identical backends got a quarter of its share for 1.5
//     s: TestStaleSampleOnlyLowers). A backend that really became slower
//     leaves the band within a few calls anyway (below).
//   - A failed call after staleAfter replaces the estimate with its
//     penalty: a failure is news, however long since the last.
//   - Any other sample pulls the EWMA towards itself with weight 1 - w,
//     where w = exp(-(now - last) / decay) (sparse samples weigh by the
//     time between them, as Finagle's), and at least minPull (frequent
//     ones by their count).
//   - An answered call pulls geometrically: the EWMA becomes
//     EWMA^w × rtt^(1-w), an average of the logarithms. Latencies of a
//     healthy backend are heavy-tailed (a GC pause, a descheduled thread
//     make one call 10× slower), and an arithmetic mean lets one such
//     call double the estimate, push an identical backend out of the
//     tolerance band and cost it its turns (10 backends × 8 callers on
//     one machine: a 1.4 to 1.6 max/min share over 1 s windows). In the
//     geometric mean a 10× hiccup moves the estimate 1.33×; a backend
//     that is really 50× slower leaves a 3× band on its third call, and
//     its calls in flight count at once anyway (see latency).
//   - A failed call pulls arithmetically: a failure is not noise, and
//     its penalty, at 1/8, makes a fast endpoint that fails about 12×
//     dearer at once.
//
// Concurrent samples are folded in one at a time by compare-and-swap. The
// time of the last sample is stored separately, so two samples finishing
// together may both decay over the same interval; that slight extra weight
// of a simultaneous sample does not matter to a load estimate, and keeps
// Done free of locks.
func (s *endpointStats) observe(rtt float64, now int64, p *params, o outcome) {
	rtt = max(rtt, minRTT)
	first := !s.sampled.Load()
	stale := !first && now-s.last.Load() >= s.staleAfter(p)
	for {
		old := s.ewma.Load()
		next := rtt
		switch e := math.Float64frombits(old); {
		case first, stale && o == failed:
		case stale && rtt <= e:
		default:
			w := min(decayFactor(now-s.last.Load(), p.invDecay), 1-minPull)
			if o == failed {
				next = e*w + rtt*(1-w)
			} else {
				next = e * math.Exp((1-w)*math.Log(rtt/e))
			}
		}
		if s.ewma.CompareAndSwap(old, math.Float64bits(next)) {
			break
		}
	}
	s.last.Store(now)
	if !s.sampled.Load() {
		s.sampled.Store(true)
	}
}

// decayFactor returns exp(-dt × invDecay), and 1 when dt <= 0 (a clock
// reading taken just before another goroutine's sample). Small exponents,
// the common case for busy endpoints, use a cubic instead of math.Exp: its
// relative error there is below 1e-13.
func decayFactor(dt int64, invDecay float64) float64 {
	if dt <= 0 {
		return 1
	}
	x := float64(dt) * invDecay
	if x < 1.0/1024 {
		return 1 - x*(1-x*(0.5-x*(1.0/6)))
	}
	return math.Exp(-x)
}

// sample returns the latency a finished call counts as, given its own
// latency rtt, or skipped if the call must not update the EWMA:
//
//   - A call cancelled by its caller (codes.Canceled, context.Canceled)
//     says nothing about the backend.
//   - A call that ended without error but sent nothing never reached the
//     backend: grpc-go reports that when the picked connection was not
//     ready after all and it picks again.
//   - A call that failed with a code meaning the backend is unwell
//     (Unavailable, DeadlineExceeded, Internal, ResourceExhausted, Unknown)
//     counts as max(rtt, penalty): a backend that fails fast must not look
//     fast.
//   - Any other outcome (success, io.EOF, an application error such as
//     NotFound or InvalidArgument) counts as rtt: the backend answered.
//
// It also says which of these the call was (see observe).
func sample(info balancer.DoneInfo, rtt, penalty float64) (float64, outcome) {
	err := info.Err
	if err == nil || err == io.EOF {
		if !info.BytesSent {
			return 0, skipped
		}
		return rtt, answered
	}
	if errors.Is(err, context.Canceled) {
		return 0, skipped
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return max(rtt, penalty), failed
	}
	switch status.Code(err) {
	case codes.Canceled:
		return 0, skipped
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.ResourceExhausted, codes.Unknown:
		return max(rtt, penalty), failed
	}
	return rtt, answered
}

// outcome is what a finished call tells of its endpoint.
type outcome uint8

const (
	skipped  outcome = iota // nothing: the EWMA is left alone
	answered                // the backend answered: a latency sample
	failed                  // the backend is unwell: a penalty sample
)
