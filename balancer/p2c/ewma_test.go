package p2c

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	ms  = float64(time.Millisecond)
	sec = float64(time.Second)
)

// near reports whether got is within a relative 1e-9 of want.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Abs(want)
}

// geo is old pulled towards rtt by pull in the geometric mean, as an
// answered call pulls the EWMA.
func geo(old, rtt, pull float64) float64 { return old * math.Pow(rtt/old, pull) }

var tenSeconds = newParams(&Config{Decay: 10 * time.Second, DefaultRTT: DefaultRTT, ErrorPenalty: time.Second, ProbeInterval: time.Hour, Tolerance: DefaultTolerance})

// A sample above the EWMA pulls it up by the same weight (in the geometric
// mean) as one below pulls it down: one hiccup does not take an endpoint
// out of the tolerance band (a peak EWMA would take the sample whole).
func TestObservePullsUp(t *testing.T) {
	s := sampledStats(10*ms, 0)
	s.observe(50*ms, 1, tenSeconds, answered)
	if got, want := s.load(), geo(10*ms, 50*ms, minPull); !near(got, want) {
		t.Errorf("after a 50ms sample over a 10ms EWMA: EWMA = %v, want %v", time.Duration(got), time.Duration(want))
	}
	if got := s.last.Load(); got != 1 {
		t.Errorf("last = %d, want 1", got)
	}
}

// A sample that comes after staleAfter without one lowers the EWMA to
// itself (a backend that was slow and is fast again is known to be fast at
// once), but does not raise it: a higher one is averaged in as usual, and
// a failure replaces it with its penalty.
func TestObserveStaleSample(t *testing.T) {
	p := newParams(&Config{Decay: 10 * time.Second, ProbeInterval: time.Second, Tolerance: 2, ErrorPenalty: time.Second})
	s := newEndpointStats(endpointPrior{rtt: 1 * ms, gap: -p.probe / probeGaps}, 0)
	s.observe(2*sec, 1, p, answered) // the first sample replaces the prior
	s.gap.Store(int64(10 * time.Millisecond))
	gaps := func(n int64) int64 { return n * int64(10*time.Millisecond) }
	// Half of probeGaps later: averaged.
	s.observe(1*ms, 1+gaps(probeGaps/2), p, answered)
	if got, want := s.load(), geo(2*sec, 1*ms, minPull); !near(got, want) {
		t.Fatalf("a sample %d gaps after a 2s one moved the EWMA to %v, want it averaged (%v)", probeGaps/2, time.Duration(got), time.Duration(want))
	}
	// probeGaps more: stale and lower, replaced.
	at := 1 + gaps(probeGaps/2) + gaps(probeGaps)
	s.observe(3*ms, at, p, answered)
	if got := s.load(); got != 3*ms {
		t.Errorf("a sample %d gaps after the last = %v, want it to replace the EWMA (3ms)", probeGaps, time.Duration(got))
	}
	// However long the gap, evidence is stale after the probe interval.
	s.gap.Store(int64(time.Hour))
	at += int64(time.Second)
	s.observe(2*ms, at, p, answered)
	if got := s.load(); got != 2*ms {
		t.Errorf("a sample a probe interval after the last = %v, want it to replace the EWMA (2ms)", time.Duration(got))
	}
	// Stale and higher: averaged in, by at least minPull.
	at += int64(time.Second)
	w := min(decayFactor(int64(time.Second), p.invDecay), 1-minPull)
	s.observe(20*ms, at, p, answered)
	if got, want := s.load(), geo(2*ms, 20*ms, 1-w); !near(got, want) {
		t.Errorf("a stale 20ms sample after a 2ms EWMA = %v, want it averaged in (%v), not replacing", time.Duration(got), time.Duration(want))
	}
	// A stale failure replaces the estimate.
	at += int64(time.Second)
	s.observe(float64(time.Second), at, p, failed)
	if got := s.load(); got != float64(time.Second) {
		t.Errorf("a stale failure with a 1s penalty = %v, want it to replace the EWMA (1s)", time.Duration(got))
	}
}

// start folds the time between picks into the gap, and staleAfter is 8
// gaps, at most the probe interval.
func TestStartTracksGap(t *testing.T) {
	p := newParams(&Config{Decay: 10 * time.Second, ProbeInterval: time.Second, Tolerance: 2})
	s := newEndpointStats(endpointPrior{rtt: 1 * ms, gap: -p.probe / probeGaps}, 0)
	if got := s.staleAfter(p); got != int64(time.Second) {
		t.Errorf("an endpoint with a prior gap of a quarter probe interval is stale after %v, want the probe interval", time.Duration(got))
	}
	ms := int64(time.Millisecond)
	s.start(1000 * ms) // the first pick: no gap to measure
	if got := s.gap.Load(); got != -int64(time.Second)/probeGaps {
		t.Errorf("gap after the first pick = %v, want the prior unchanged", time.Duration(got))
	}
	s.start(1007 * ms) // the first gap measured replaces the prior
	if got := s.gap.Load(); got != 7*ms {
		t.Errorf("gap after the second pick = %v, want the 7ms measured", time.Duration(got))
	}
	for i := range int64(200) {
		s.start(1008*ms + i*ms)
	}
	if got := s.gap.Load(); got < 9*ms/10 || got > 11*ms/10 {
		t.Errorf("gap after picks 1ms apart = %v, want about 1ms", time.Duration(got))
	}
	if got := s.staleAfter(p); got != p.probe/100 {
		t.Errorf("staleAfter = %v, want its floor, a hundredth of the probe interval (%d gaps are less)", time.Duration(got), probeGaps)
	}
	s.gap.Store(int64(5 * time.Millisecond))
	if got := s.staleAfter(p); got != probeGaps*s.gap.Load() {
		t.Errorf("staleAfter = %v, want %d gaps", time.Duration(got), probeGaps)
	}
	// A probe's pick counts as a gap too (claimProbe stores the pick).
	last := s.lastPick.Load()
	if !s.claimProbe(last + int64(45*time.Millisecond)) {
		t.Fatal("claimProbe failed")
	}
	if got := s.gap.Load(); got != int64(10*time.Millisecond) {
		t.Errorf("gap after a probe 45ms after the last pick = %v, want 5ms + 40ms/8 = 10ms", time.Duration(got))
	}
}

func TestProbeDue(t *testing.T) {
	p := newParams(&Config{Decay: 10 * time.Second, ProbeInterval: time.Second, Tolerance: 2})
	sec := int64(time.Second)
	s := newEndpointStats(endpointPrior{rtt: 1 * ms, gap: -p.probe / probeGaps}, 0)
	if !s.probeDue(0, 0, 1, p) {
		t.Errorf("an endpoint with no sample and nothing in flight is not due a probe")
	}
	if s.probeDue(0, 1, 1, p) {
		t.Errorf("an endpoint with a call in flight is due a probe")
	}
	s.observe(1*ms, 1, p, answered)
	s.start(2)
	s.inFlight.Add(-1)
	if s.probeDue(sec, 0, 1, p) {
		t.Errorf("due a probe before the probe interval since its last pick")
	}
	if !s.probeDue(2+sec, 0, 1, p) {
		t.Errorf("not due a probe a probe interval after its last pick")
	}
	if !s.claimProbe(2+sec) || s.claimProbe(2+sec) {
		t.Errorf("a probe must be claimed once")
	}
	if s.probeDue(2+sec, 0, 1, p) {
		t.Errorf("still due a probe once it was claimed")
	}
	// At slow-start weight 0.5, twice as long.
	if s.probeDue(2+3*sec/2, 0, 0.5, p) || !s.probeDue(2+3*sec, 0, 0.5, p) {
		t.Errorf("at weight 0.5 a probe must be due after twice the probe interval")
	}
}

func TestObserveDecay(t *testing.T) {
	decay := int64(10 * time.Second)
	tests := []struct {
		name    string
		ewma    float64
		dt      int64 // since the last sample
		rtt     float64
		want    float64
		comment string
	}{
		{"one decay", 50 * ms, decay, 10 * ms, geo(50*ms, 10*ms, 1-math.Exp(-1)), "weight 1/e left on the old EWMA"},
		{"three decays", 50 * ms, 3 * decay, 10 * ms, geo(50*ms, 10*ms, 1-math.Exp(-3)), ""},
		{"same instant", 50 * ms, 0, 10 * ms, geo(50*ms, 10*ms, minPull), "no time passed: the least weight, minPull"},
		{"clock behind", 50 * ms, -5, 10 * ms, geo(50*ms, 10*ms, minPull), "a reading taken before the last sample counts as no time"},
		{"1ms later", 50 * ms, int64(time.Millisecond), 10 * ms, geo(50*ms, 10*ms, minPull), "the time-based weight is below minPull"},
		{"long ago", 50 * ms, 100 * decay, 10 * ms, 10 * ms, "the old EWMA is forgotten"},
		{"equal", 10 * ms, decay, 10 * ms, 10 * ms, ""},
		{"floor", 10 * ms, 100 * decay, 0, minRTT, "samples count as at least 1µs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const t0 = int64(1e12)
			s := sampledStats(tt.ewma, t0)
			s.observe(tt.rtt, t0+tt.dt, tenSeconds, answered)
			if got := s.load(); !near(got, tt.want) {
				t.Errorf("EWMA %v, %v later a sample of %v: got %v, want %v (%s)",
					time.Duration(tt.ewma), time.Duration(tt.dt), time.Duration(tt.rtt), time.Duration(got), time.Duration(tt.want), tt.comment)
			}
		})
	}
}

// A fast backend recovers from one slow sample at the pace the decay sets
// while its calls are sparse, and within about 1/minPull calls when they
// are frequent (otherwise its EWMA would be its largest sample of the last
// decay).
func TestObserveRecovery(t *testing.T) {
	// every returns n times, step apart, from step on.
	every := func(step time.Duration, n int) []time.Duration {
		at := make([]time.Duration, n)
		for i := range at {
			at[i] = time.Duration(i+1) * step
		}
		return at
	}
	for _, tc := range []struct {
		name string
		at   []time.Duration // of the 1ms samples, after the 100ms one at 0
		pull float64         // how far they pull the EWMA from 100ms to 1ms, in the geometric mean
		max  float64         // the EWMA at most after them, if not 0
	}{
		// Weight by time: 20s is two decays.
		{name: "sparse: time-based", at: []time.Duration{20 * time.Second}, pull: 1 - math.Exp(-2)},
		// exp(-1s/10s) > 1 - minPull: each sample pulls minPull.
		{name: "a sample a second: minPull", at: every(time.Second, 10), pull: 1 - math.Pow(1-minPull, 10)},
		// The hiccup is mostly gone.
		{name: "frequent: at least minPull a sample", at: every(time.Millisecond, 20), pull: 1 - math.Pow(1-minPull, 20), max: 2 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sampledStats(1*ms, 0)
			s.observe(100*ms, 0, tenSeconds, answered)
			peak := s.load()
			for _, at := range tc.at {
				s.observe(1*ms, int64(at), tenSeconds, answered)
			}
			want := geo(peak, 1*ms, tc.pull)
			if got := s.load(); !near(got, want) {
				t.Errorf("%d samples of 1ms, the last %v after a 100ms one: EWMA = %v, want %v", len(tc.at), tc.at[len(tc.at)-1], time.Duration(got), time.Duration(want))
			}
			if got := s.load(); tc.max != 0 && got > tc.max {
				t.Errorf("%d samples of 1ms after a 100ms one: EWMA = %v, want at most %v", len(tc.at), time.Duration(got), time.Duration(tc.max))
			}
		})
	}
}

func TestDecayFactor(t *testing.T) {
	inv := tenSeconds.invDecay
	if got := decayFactor(0, inv); got != 1 {
		t.Errorf("decayFactor(0) = %v, want 1", got)
	}
	if got := decayFactor(-1000, inv); got != 1 {
		t.Errorf("decayFactor(-1000) = %v, want 1", got)
	}
	prev := 1.0
	for dt := int64(1); dt < int64(1000*time.Second); dt = dt*5/4 + 1 {
		got, want := decayFactor(dt, inv), math.Exp(-float64(dt)*inv)
		if math.Abs(got-want) > 1e-12*want {
			t.Fatalf("decayFactor(%v) = %v, want %v", time.Duration(dt), got, want)
		}
		if got > prev+1e-12 {
			t.Fatalf("decayFactor(%v) = %v rose above %v", time.Duration(dt), got, prev)
		}
		prev = got
	}
}

// latency is the decayed EWMA when idle, the EWMA or the stall when busy.
func TestLatency(t *testing.T) {
	inv := tenSeconds.invDecay
	ten := int64(10 * time.Second)
	tests := []struct {
		name      string
		ewma      float64
		last      int64 // of the last sample
		inFlight  int64
		busySince int64
		now       int64
		want      float64
	}{
		{"idle, just sampled", 1 * sec, 0, 0, 0, 0, 1 * sec},
		{"idle, one decay since the last sample", 1 * sec, 0, 0, 0, ten, sec * math.Exp(-1)},
		{"idle, 10 decays", 1 * sec, 0, 0, 0, 10 * ten, sec * math.Exp(-10)},
		{"3 in flight, just sampled", 1 * sec, 0, 3, 0, 0, 1 * sec},
		{"3 in flight, stalled less than the EWMA", 1 * sec, 0, 3, 0, int64(500 * time.Millisecond), 1 * sec},
		{"3 in flight, not decayed but stalled 10s", 1 * sec, 0, 3, 0, ten, 10 * sec},
		{"1 in flight, stall counts from the last sample", 2 * ms, 0, 1, -ten, int64(30 * time.Millisecond), 30 * ms},
		{"1 in flight, stall counts from when it became busy", 2 * ms, -ten, 1, 0, int64(30 * time.Millisecond), 30 * ms},
		{"1 in flight, busy for less than the EWMA", 2 * ms, -ten, 1, 0, int64(time.Millisecond), 2 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sampledStats(tt.ewma, tt.last)
			s.inFlight.Store(tt.inFlight)
			s.busySince.Store(tt.busySince)
			got, n := s.latency(tt.now, inv)
			if !near(got, tt.want) || n != tt.inFlight {
				t.Errorf("latency = %v with %d in flight, want %v with %d", time.Duration(got), n, time.Duration(tt.want), tt.inFlight)
			}
		})
	}
}

// dearer weighs latency against calls in flight: as latency × (in-flight +
// 1) when nothing else is in flight, and never lets calls in flight make up
// for more than 3× the latency.
func TestDearer(t *testing.T) {
	tests := []struct {
		name   string
		la     float64
		na     int64
		lb     float64
		nb     int64
		dearer bool
	}{
		{"same latency, idle vs busy", 1 * ms, 0, 1 * ms, 1, false},
		{"same latency, busy vs idle", 1 * ms, 1, 1 * ms, 0, true},
		{"same latency, more in flight", 1 * ms, 5, 1 * ms, 4, true},
		{"tie: not dearer", 1 * ms, 2, 1 * ms, 2, false},
		{"idle and 1.5× slower vs 1 in flight (m = 1.5: 1.5 vs 2.5)", 1.5 * ms, 0, 1 * ms, 1, false},
		{"idle and 2.6× slower vs 1 in flight", 2.6 * ms, 0, 1 * ms, 1, true},
		{"idle and 2.7× slower vs 16 in flight (m = 9: 24.3 vs 25)", 2.7 * ms, 0, 1 * ms, 16, false},
		{"idle and 3× slower vs 16 in flight", 3 * ms, 0, 1 * ms, 16, true},
		{"idle and 3× slower vs 1000 in flight", 3 * ms, 0, 1 * ms, 1000, true},
		{"idle and 20× slower vs 16 in flight (a plain + 1: 20 vs 17)", 20 * ms, 0, 1 * ms, 16, true},
		{"both busy, 2× slower, 16 vs 40 in flight (m = 29: 90 vs 69)", 2 * ms, 16, 1 * ms, 40, true},
		{"both busy, 1.5× slower, 16 vs 40 in flight (67.5 vs 69)", 1.5 * ms, 16, 1 * ms, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dearer(tt.la, tt.na, tt.lb, tt.nb); got != tt.dearer {
				t.Errorf("dearer(%v, %d, %v, %d) = %v, want %v", time.Duration(tt.la), tt.na, time.Duration(tt.lb), tt.nb, got, tt.dearer)
			}
		})
	}
}

func TestStartMarksBusy(t *testing.T) {
	s := sampledStats(1*ms, 0)
	s.start(5)
	s.start(7) // already busy: the busy period began at 5
	if got := s.busySince.Load(); got != 5 || s.inFlight.Load() != 2 {
		t.Errorf("after two starts: busy since %d with %d in flight, want 5 and 2", got, s.inFlight.Load())
	}
}

func TestSample(t *testing.T) {
	const (
		rtt     = 2 * ms
		penalty = 1 * sec
	)
	ok := balancer.DoneInfo{BytesSent: true, BytesReceived: true}
	fail := func(c codes.Code) balancer.DoneInfo {
		return balancer.DoneInfo{Err: status.Error(c, "x"), BytesSent: true}
	}
	tests := []struct {
		name string
		info balancer.DoneInfo
		rtt  float64
		want float64
		skip bool // must not update the EWMA
	}{
		{"ok", ok, rtt, rtt, false},
		{"io.EOF ends a stream well", balancer.DoneInfo{Err: io.EOF, BytesSent: true}, rtt, rtt, false},
		{"nothing sent: never reached the backend", balancer.DoneInfo{}, rtt, 0, true},
		{"Canceled", fail(codes.Canceled), rtt, 0, true},
		{"context.Canceled", balancer.DoneInfo{Err: context.Canceled}, rtt, 0, true},
		{"wrapped context.Canceled", balancer.DoneInfo{Err: fmt.Errorf("call: %w", context.Canceled)}, rtt, 0, true},
		{"Canceled from a context", balancer.DoneInfo{Err: status.FromContextError(context.Canceled).Err()}, rtt, 0, true},
		{"Unavailable", fail(codes.Unavailable), rtt, penalty, false},
		{"Unavailable before sending", balancer.DoneInfo{Err: status.Error(codes.Unavailable, "x")}, rtt, penalty, false},
		{"DeadlineExceeded", fail(codes.DeadlineExceeded), rtt, penalty, false},
		{"context.DeadlineExceeded", balancer.DoneInfo{Err: context.DeadlineExceeded}, rtt, penalty, false},
		{"Internal", fail(codes.Internal), rtt, penalty, false},
		{"ResourceExhausted", fail(codes.ResourceExhausted), rtt, penalty, false},
		{"Unknown", fail(codes.Unknown), rtt, penalty, false},
		{"a plain error is Unknown", balancer.DoneInfo{Err: errors.New("boom")}, rtt, penalty, false},
		{"Unavailable slower than the penalty", fail(codes.Unavailable), 3 * sec, 3 * sec, false},
		{"DeadlineExceeded slower than the penalty", fail(codes.DeadlineExceeded), 5 * sec, 5 * sec, false},
		{"NotFound: the backend answered", fail(codes.NotFound), rtt, rtt, false},
		{"InvalidArgument", fail(codes.InvalidArgument), rtt, rtt, false},
		{"PermissionDenied", fail(codes.PermissionDenied), rtt, rtt, false},
		{"Unauthenticated", fail(codes.Unauthenticated), rtt, rtt, false},
		{"FailedPrecondition", fail(codes.FailedPrecondition), rtt, rtt, false},
		{"AlreadyExists", fail(codes.AlreadyExists), rtt, rtt, false},
		{"Aborted", fail(codes.Aborted), rtt, rtt, false},
		{"OutOfRange", fail(codes.OutOfRange), rtt, rtt, false},
		{"Unimplemented", fail(codes.Unimplemented), rtt, rtt, false},
		{"DataLoss", fail(codes.DataLoss), rtt, rtt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, o := sample(tt.info, tt.rtt, penalty)
			want := answered
			switch {
			case tt.skip:
				want = skipped
			case tt.want == penalty || tt.want > tt.rtt || strings.Contains(tt.name, "than the penalty"):
				want = failed
			}
			if o != want {
				t.Fatalf("sample(%+v) outcome = %v, want %v", tt.info, o, want)
			}
			if o != skipped && got != tt.want {
				t.Errorf("sample(%+v, rtt %v) = %v, want %v", tt.info, time.Duration(tt.rtt), time.Duration(got), time.Duration(tt.want))
			}
		})
	}
	// A zero penalty counts unwell calls at their own latency.
	if got, o := sample(fail(codes.Unavailable), rtt, 0); o != failed || got != rtt {
		t.Errorf("sample(Unavailable) with no penalty = %v, %v; want %v, failed", time.Duration(got), o, time.Duration(rtt))
	}
}

// Done with each outcome moves the EWMA as sample says, and always counts
// the call out.
func TestDoneUpdatesStats(t *testing.T) {
	p := &picker{params: tenSeconds}
	tests := []struct {
		name   string
		info   balancer.DoneInfo
		change func(before, after float64) bool
		want   string
	}{
		{"ok", balancer.DoneInfo{BytesSent: true}, func(b, a float64) bool { return a < b }, "lower"},
		{"Unavailable", balancer.DoneInfo{Err: status.Error(codes.Unavailable, "x")}, func(b, a float64) bool { return near(a, b+(sec-b)*minPull) }, "pulled towards the 1s penalty"},
		{"DeadlineExceeded", balancer.DoneInfo{Err: status.Error(codes.DeadlineExceeded, "x")}, func(b, a float64) bool { return near(a, b+(sec-b)*minPull) }, "pulled towards the 1s penalty"},
		{"Canceled", balancer.DoneInfo{Err: status.Error(codes.Canceled, "x")}, func(b, a float64) bool { return a == b }, "unchanged"},
		{"not sent", balancer.DoneInfo{}, func(b, a float64) bool { return a == b }, "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sampledStats(10*ms, nanotime()) // just sampled: minPull
			p.endpoints, p.pickers = []pickEndpoint{{stats: s}}, []balancer.Picker{fixedPicker{}}
			res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
			if err != nil {
				t.Fatal(err)
			}
			if n := s.inFlight.Load(); n != 1 {
				t.Fatalf("in flight after Pick = %d, want 1", n)
			}
			before := s.load()
			res.Done(tt.info)
			if after := s.load(); !tt.change(before, after) {
				t.Errorf("EWMA %v after Done(%+v) = %v, want %s", time.Duration(before), tt.info, time.Duration(after), tt.want)
			}
			if n := s.inFlight.Load(); n != 0 {
				t.Errorf("in flight after Done = %d, want 0", n)
			}
		})
	}
}

// fixedPicker stands in for a pick_first child's READY picker.
type fixedPicker struct {
	err  error
	done func(balancer.DoneInfo)
}

func (f fixedPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{Done: f.done}, f.err
}

// The child picker's Done, if it has one, is called with the same
// DoneInfo; a child's pick error is returned and counts no call.
func TestPickWrapsChild(t *testing.T) {
	var got []balancer.DoneInfo
	s := sampledStats(10*ms, 0)
	p := &picker{params: tenSeconds, endpoints: []pickEndpoint{{stats: s}},
		pickers: []balancer.Picker{fixedPicker{done: func(i balancer.DoneInfo) { got = append(got, i) }}}}
	res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
	if err != nil {
		t.Fatal(err)
	}
	info := balancer.DoneInfo{Err: io.EOF, BytesSent: true}
	res.Done(info)
	if len(got) != 1 || got[0].Err != io.EOF {
		t.Errorf("child Done got %+v, want one call with io.EOF", got)
	}

	errPick := errors.New("child says no")
	p.pickers[0] = fixedPicker{err: errPick}
	if _, err := p.Pick(balancer.PickInfo{Ctx: context.Background()}); err != errPick {
		t.Errorf("Pick error = %v, want the child's %v", err, errPick)
	}
	if n := s.inFlight.Load(); n != 0 {
		t.Errorf("in flight after a failed pick = %d, want 0", n)
	}
}

var errUnavailable = status.Error(codes.Unavailable, "backend unavailable")

// The stats of an endpoint fill exactly one cache line.
func TestEndpointStatsSize(t *testing.T) {
	if size := unsafe.Sizeof(endpointStats{}); size != 64 {
		t.Errorf("endpointStats is %d bytes, want 64", size)
	}
}

// sampledStats returns stats whose EWMA ewma came from samples (not the
// prior of a new endpoint, which the first sample replaces).
func sampledStats(ewma float64, now int64) *endpointStats {
	s := newEndpointStats(endpointPrior{rtt: ewma, gap: -int64(time.Hour)}, now)
	s.sampled.Store(true)
	return s
}

// The first sample replaces the prior a new endpoint starts with; the next
// ones are averaged.
func TestFirstSampleReplacesPrior(t *testing.T) {
	s := newEndpointStats(endpointPrior{rtt: 10 * ms, gap: -int64(time.Hour)}, 0)
	s.observe(1*ms, 1, tenSeconds, answered)
	if got := s.load(); got != 1*ms {
		t.Errorf("prior 10ms, first sample 1ms: EWMA %v, want 1ms", time.Duration(got))
	}
	s.observe(0.5*ms, 2, tenSeconds, answered)
	if got, want := s.load(), geo(1*ms, 0.5*ms, minPull); !near(got, want) {
		t.Errorf("then a sample of 0.5ms: EWMA %v, want %v", time.Duration(got), time.Duration(want))
	}
}

// dearer reports whether an endpoint of latency la with na calls in flight
// costs more than one of latency lb with nb in flight.
func dearer(la float64, na int64, lb float64, nb int64) bool {
	return cost(la, na, nb) > cost(lb, nb, na)
}

// The noise of a healthy backend stays in the tolerance band; a slow or
// failing backend leaves it within a few calls.
func TestObserveNoiseAndEvidence(t *testing.T) {
	tol := DefaultTolerance
	tests := []struct {
		name    string
		samples []float64
		o       outcome
		out     bool // left the band over a 1ms rival
	}{
		{"one 10x hiccup", []float64{10 * ms}, answered, false},
		{"two 10x hiccups in a row", []float64{10 * ms, 10 * ms}, answered, false},
		{"a 50x slower backend, two calls", []float64{50 * ms, 50 * ms}, answered, false},
		{"a 50x slower backend, three calls", []float64{50 * ms, 50 * ms, 50 * ms}, answered, true},
		{"one failure", []float64{1 * ms}, failed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sampledStats(1*ms, 0)
			for i, rtt := range tt.samples {
				s.observe(max(rtt, tenSeconds.penalty*float64(tt.o-answered)), int64(i+1), tenSeconds, tt.o)
			}
			if out := s.load() > tol*ms; out != tt.out {
				t.Errorf("EWMA %v after %v: out of the %v× band = %v, want %v", time.Duration(s.load()), tt.samples, tol, out, tt.out)
			}
		})
	}
}

// namedSubConn is a SubConn told apart by its name.
type namedSubConn struct {
	balancer.SubConn
	name string
}

// childOf is a child's picker that hands out its SubConn with a Done, so
// that the picker must call it on every pick.
type childOf struct{ sc *namedSubConn }

func (c childOf) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{SubConn: c.sc, Done: func(balancer.DoneInfo) {}}, nil
}

// When the picker must call the children's pickers (they hand out a
// Done), it calls the chosen endpoint's: the call counted in flight is
// counted on the endpoint whose SubConn the pick returns.
func TestPickCallsTheChosenChild(t *testing.T) {
	const n = 4
	p := &picker{params: tenSeconds}
	scs := make([]*namedSubConn, n)
	for i := range n {
		scs[i] = &namedSubConn{name: fmt.Sprint(i)}
		p.endpoints = append(p.endpoints, pickEndpoint{stats: sampledStats(float64(i+1)*ms, nanotime())})
		p.pickers = append(p.pickers, childOf{sc: scs[i]})
	}
	for k := range 200 {
		before := make([]int64, n)
		for i := range n {
			before[i] = p.endpoints[i].stats.inFlight.Load()
		}
		res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			counted := p.endpoints[i].stats.inFlight.Load() - before[i]
			if returned := res.SubConn == scs[i]; (counted == 1) != returned {
				t.Fatalf("pick %d: endpoint %d counted %d more in flight, its SubConn returned: %v", k, i, counted, returned)
			}
		}
		if k%3 == 0 { // leave some calls in flight, so that loads differ
			res.Done(balancer.DoneInfo{BytesSent: true, BytesReceived: true})
		}
	}
}
