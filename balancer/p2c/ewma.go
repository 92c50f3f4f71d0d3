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

// epoch is the origin of nanotime.
var epoch = time.Now()

// nanotime reads the monotonic clock, in nanoseconds since epoch. It is
// the cheapest clock reading the standard library offers (time.Since uses
// only the monotonic clock), and Pick and Done each read it once.
func nanotime() int64 { return int64(time.Since(epoch)) }

// minPull is the least weight a sample below the EWMA gets (see observe).
const minPull = 1.0 / 32

// minRTT is the smallest latency a sample counts as, so that an EWMA never
// reaches zero, where it would make the in-flight factor of the cost vanish.
const minRTT = float64(time.Microsecond)

// params are a picker's settings in the units the hot path wants. They are
// immutable; a config update makes new ones.
type params struct {
	invDecay   float64 // 1 / Decay in nanoseconds
	penalty    float64 // ErrorPenalty in nanoseconds
	defaultRTT float64 // DefaultRTT in nanoseconds
	// slow start
	window    int64   // ns; 0: off
	invAggr   float64 // 1 / Aggression
	minWeight float64 // MinWeightPercent / 100
}

func newParams(cfg *Config) *params {
	p := &params{
		invDecay:   1 / float64(cfg.Decay),
		penalty:    float64(cfg.ErrorPenalty),
		defaultRTT: float64(cfg.DefaultRTT),
		window:     int64(cfg.SlowStart.Window),
		invAggr:    1,
		minWeight:  0.1,
	}
	if cfg.SlowStart.Aggression > 0 {
		p.invAggr = 1 / cfg.SlowStart.Aggression
	}
	if cfg.SlowStart.MinWeightPercent > 0 {
		p.minWeight = cfg.SlowStart.MinWeightPercent / 100
	}
	return p
}

// rampWeight is the slow-start weight, in (0, 1], of an endpoint READY
// since readySince, at now.
func (p *params) rampWeight(readySince, now int64) float64 {
	age := now - readySince
	if p.window == 0 || age >= p.window {
		return 1
	}
	f := float64(max(age, 0)) / float64(p.window)
	if p.invAggr != 1 {
		f = math.Pow(f, p.invAggr)
	}
	return max(f, p.minWeight)
}

// endpointStats is what the balancer knows of one endpoint: its calls in
// flight and the peak EWMA of its latency. Picks read it without locking;
// finished calls update it with atomic operations.
//
// It fills one 64-byte cache line (the allocator's 64-byte size class is
// line-aligned), so calls to different endpoints do not contend.
type endpointStats struct {
	inFlight  atomic.Int64
	ewma      atomic.Uint64 // float64 bits: the EWMA of latency, in ns
	last      atomic.Int64  // nanotime of the last sample, or of creation
	busySince atomic.Int64  // nanotime of the last pick that found nothing in flight
	// readySince and ready are the balancer's, under its mutex: when the
	// endpoint last became READY, for slow start. Pickers get copies.
	readySince int64
	ready      bool
	// sampled is set by the first sample, which replaces the prior the
	// stats were made with instead of being averaged with it.
	sampled atomic.Bool
	_       [16]byte
}

func newEndpointStats(rtt float64, now int64) *endpointStats {
	s := new(endpointStats)
	s.ewma.Store(math.Float64bits(rtt))
	s.last.Store(now)
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
// arrived meanwhile (Finagle and Linkerd decay the same way). Without this
// an endpoint that was slow once and then got no traffic would keep its
// high EWMA and never be picked again: now it is picked again once its
// decayed cost falls below its rivals', and the sample of that call sets its
// EWMA. The stored EWMA is not changed, so Pick never writes it.
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

// dearer reports whether an endpoint of latency la with na calls in flight
// costs more than one of latency lb with nb in flight. The cost is
//
//	latency × (in-flight + m),  m = 1 + the mean in-flight of the two
//
// With nothing in flight on either this is latency × (in-flight + 1),
// Finagle's and Linkerd's cost. Under load, m keeps latency in the
// comparison: with a plain + 1, 64 callers on 4 backends (16 calls in
// flight each) would rate an idle backend 16× slower as no dearer than a
// busy healthy one; with + m, calls in flight can make up for at most 3×
// the latency (na = 0 and nb = 2(m - 1): the factors are m and 3m - 2).
// Between backends of equal latency, in-flight still decides.
func dearer(la float64, na int64, lb float64, nb int64) bool {
	m := float64(na+nb)/2 + 1
	return la*(float64(na)+m) > lb*(float64(nb)+m)
}

// start counts a call in.
func (s *endpointStats) start(now int64) {
	if s.inFlight.Add(1) == 1 {
		s.busySince.Store(now)
	}
}

// observe folds a sample of rtt ns taken at now into the peak EWMA. The
// first sample replaces the prior (see p2cBalancer.prior). Then a
// sample above the EWMA replaces it at once (react to slowness at once);
// one below it pulls it towards the sample with weight 1 - w, where
// w = exp(-(now - last) / decay) (recover gradually, at a rate set by
// time), and at least minPull.
//
// minPull matters at high call rates. With the time-based weight alone, an
// endpoint that answers every few hundred microseconds moves its EWMA by a
// few thousandths of a percent per lower sample, so the EWMA is about its
// largest sample of the last decay: its p99.99, not its typical latency. A
// healthy backend with the odd 15ms hiccup then looks nearly as slow as a
// backend 50ms slower on every call. With minPull, a peak fades by 1/e
// within about 1/minPull lower samples, however frequent.
//
// Concurrent samples are folded in one at a time by compare-and-swap. The
// time of the last sample is stored separately, so two samples finishing
// together may both decay over the same interval; that slight extra weight
// of a simultaneous sample does not matter to a load estimate, and keeps
// Done free of locks.
func (s *endpointStats) observe(rtt float64, now int64, invDecay float64) {
	rtt = max(rtt, minRTT)
	for {
		old := s.ewma.Load()
		e := math.Float64frombits(old)
		next := rtt
		if rtt < e && s.sampled.Load() {
			w := min(decayFactor(now-s.last.Load(), invDecay), 1-minPull)
			next = e*w + rtt*(1-w)
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
// latency rtt, and false if the call must not update the EWMA:
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
func sample(info balancer.DoneInfo, rtt, penalty float64) (float64, bool) {
	err := info.Err
	if err == nil || err == io.EOF {
		return rtt, info.BytesSent
	}
	if errors.Is(err, context.Canceled) {
		return 0, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return max(rtt, penalty), true
	}
	switch status.Code(err) {
	case codes.Canceled:
		return 0, false
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.ResourceExhausted, codes.Unknown:
		return max(rtt, penalty), true
	}
	return rtt, true
}
