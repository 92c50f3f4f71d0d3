package p2c

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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

var tenSeconds = newParams(&Config{Decay: 10 * time.Second, DefaultRTT: DefaultRTT, ErrorPenalty: time.Second})

func TestObservePeak(t *testing.T) {
	s := newEndpointStats(10*ms, 0)
	// Slower than the EWMA: taken at once, however little time passed.
	s.observe(50*ms, 1, tenSeconds.invDecay)
	if got := s.load(); got != 50*ms {
		t.Errorf("after a 50ms sample over a 10ms EWMA: EWMA = %v, want 50ms at once", time.Duration(got))
	}
	if got := s.last.Load(); got != 1 {
		t.Errorf("last = %d, want 1", got)
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
		{"one decay", 50 * ms, decay, 10 * ms, 50*ms*math.Exp(-1) + 10*ms*(1-math.Exp(-1)), "weight 1/e left on the old EWMA"},
		{"three decays", 50 * ms, 3 * decay, 10 * ms, 50*ms*math.Exp(-3) + 10*ms*(1-math.Exp(-3)), ""},
		{"same instant", 50 * ms, 0, 10 * ms, 50 * ms, "no time passed: no weight on the sample"},
		{"clock behind", 50 * ms, -5, 10 * ms, 50 * ms, "a reading taken before the last sample counts as no time"},
		{"1ms later", 50 * ms, int64(time.Millisecond), 10 * ms, 50*ms*math.Exp(-1e-4) + 10*ms*(1-math.Exp(-1e-4)), "the cubic branch"},
		{"long ago", 50 * ms, 100 * decay, 10 * ms, 10 * ms, "the old EWMA is forgotten"},
		{"equal", 10 * ms, decay, 10 * ms, 10 * ms, ""},
		{"floor", 10 * ms, 100 * decay, 0, minRTT, "samples count as at least 1µs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const t0 = int64(1e12)
			s := newEndpointStats(tt.ewma, t0)
			s.observe(tt.rtt, t0+tt.dt, tenSeconds.invDecay)
			if got := s.load(); !near(got, tt.want) {
				t.Errorf("EWMA %v, %v later a sample of %v: got %v, want %v (%s)",
					time.Duration(tt.ewma), time.Duration(tt.dt), time.Duration(tt.rtt), time.Duration(got), time.Duration(tt.want), tt.comment)
			}
		})
	}
}

// A fast backend recovers from one slow sample at the pace the decay sets,
// whatever the call rate.
func TestObserveRecoveryIsTimeBased(t *testing.T) {
	for _, every := range []time.Duration{time.Millisecond, 100 * time.Millisecond} {
		s := newEndpointStats(1*ms, 0)
		s.observe(100*ms, 0, tenSeconds.invDecay)
		now := int64(0)
		for now < int64(10*time.Second) {
			now += int64(every)
			s.observe(1*ms, now, tenSeconds.invDecay)
		}
		want := 1*ms + 99*ms*math.Exp(-1)
		if got := s.load(); math.Abs(got-want) > 0.01*want {
			t.Errorf("samples every %v: 10s after a 100ms peak EWMA = %v, want about %v", every, time.Duration(got), time.Duration(want))
		}
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

func TestCost(t *testing.T) {
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
		{"3 in flight, just sampled", 1 * sec, 0, 3, 0, 0, 4 * sec},
		{"3 in flight, stalled less than the EWMA", 1 * sec, 0, 3, 0, int64(500 * time.Millisecond), 4 * sec},
		{"3 in flight, not decayed but stalled 10s", 1 * sec, 0, 3, 0, ten, 4 * 10 * sec},
		{"1 in flight, stall counts from the last sample", 2 * ms, 0, 1, -ten, int64(30 * time.Millisecond), 2 * 30 * ms},
		{"1 in flight, stall counts from when it became busy", 2 * ms, -ten, 1, 0, int64(30 * time.Millisecond), 2 * 30 * ms},
		{"1 in flight, busy for less than the EWMA", 2 * ms, -ten, 1, 0, int64(time.Millisecond), 2 * 2 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newEndpointStats(tt.ewma, tt.last)
			s.inFlight.Store(tt.inFlight)
			s.busySince.Store(tt.busySince)
			if got := s.cost(tt.now, inv); !near(got, tt.want) {
				t.Errorf("cost = %v, want %v", time.Duration(got), time.Duration(tt.want))
			}
		})
	}
}

func TestStartMarksBusy(t *testing.T) {
	s := newEndpointStats(1*ms, 0)
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
			got, use := sample(tt.info, tt.rtt, penalty)
			if use == tt.skip {
				t.Fatalf("sample(%+v) used = %v, want %v", tt.info, use, !tt.skip)
			}
			if use && got != tt.want {
				t.Errorf("sample(%+v, rtt %v) = %v, want %v", tt.info, time.Duration(tt.rtt), time.Duration(got), time.Duration(tt.want))
			}
		})
	}
	// A zero penalty counts unwell calls at their own latency.
	if got, use := sample(fail(codes.Unavailable), rtt, 0); !use || got != rtt {
		t.Errorf("sample(Unavailable) with no penalty = %v, %v; want %v, true", time.Duration(got), use, time.Duration(rtt))
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
		{"Unavailable", balancer.DoneInfo{Err: status.Error(codes.Unavailable, "x")}, func(b, a float64) bool { return a == sec }, "the 1s penalty"},
		{"DeadlineExceeded", balancer.DoneInfo{Err: status.Error(codes.DeadlineExceeded, "x")}, func(b, a float64) bool { return a == sec }, "the 1s penalty"},
		{"Canceled", balancer.DoneInfo{Err: status.Error(codes.Canceled, "x")}, func(b, a float64) bool { return a == b }, "unchanged"},
		{"not sent", balancer.DoneInfo{}, func(b, a float64) bool { return a == b }, "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newEndpointStats(10*ms, nanotime()-int64(time.Second))
			p.endpoints = []pickEndpoint{{picker: fixedPicker{}, stats: s}}
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
	s := newEndpointStats(10*ms, 0)
	p := &picker{params: tenSeconds, endpoints: []pickEndpoint{{
		picker: fixedPicker{done: func(i balancer.DoneInfo) { got = append(got, i) }},
		stats:  s,
	}}}
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
	p.endpoints[0].picker = fixedPicker{err: errPick}
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
