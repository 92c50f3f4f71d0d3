package p2c

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// These tests run the balancer in a testing/synctest bubble, where Pick,
// Done and the balancer read the bubble's virtual clock through nanotime:
// a call's latency is exactly the time the test sleeps between its Pick and
// its Done, and the decay and the ramps are checked at exact instants.

// nanotime reads the bubble's clock: positive (0 means "never" to the
// stats), advancing exactly as the bubble's time does, and timeOf and
// nanotimeOf convert between it and time.Time.
func TestClockInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start, wall := nanotime(), time.Now()
		if start <= 0 {
			t.Fatalf("nanotime() = %d in a bubble, want > 0", start)
		}
		time.Sleep(1500 * time.Millisecond)
		if d := nanotime() - start; d != int64(1500*time.Millisecond) {
			t.Errorf("nanotime advanced %v over a 1.5s sleep, want 1.5s", time.Duration(d))
		}
		if got := timeOf(start); !got.Equal(wall) {
			t.Errorf("timeOf(nanotime()) = %v, want the bubble's time.Now() %v", got, wall)
		}
		if got := nanotimeOf(timeOf(start)); got != start {
			t.Errorf("nanotimeOf(timeOf(%d)) = %d", start, got)
		}
	})
	// Outside a bubble as well.
	if n := nanotime(); n <= 0 {
		t.Fatalf("nanotime() = %d, want > 0", n)
	}
	for _, n := range []int64{nanotime(), nanotime() + int64(time.Hour), nanotime() - int64(time.Hour)} {
		if got := nanotimeOf(timeOf(n)); got != n {
			t.Errorf("nanotimeOf(timeOf(%d)) = %d", n, got)
		}
	}
}

// bubbleCall makes one call through p that takes exactly rtt of the
// bubble's time and ends with done; it returns the endpoint's stats.
func bubbleCall(t *testing.T, p *picker, rtt time.Duration, done balancer.DoneInfo) *endpointStats {
	t.Helper()
	res, err := p.Pick(pickInfo)
	if err != nil {
		t.Fatal(err)
	}
	var s *endpointStats
	for i := range p.endpoints {
		if p.endpoints[i].fixedSC == res.SubConn {
			s = p.endpoints[i].stats
		}
	}
	if s == nil {
		t.Fatalf("picked %v, in none of the picker's endpoints", res.SubConn)
	}
	if n := s.inFlight.Load(); n != 1 {
		t.Fatalf("%d calls in flight during a call, want 1", n)
	}
	time.Sleep(rtt)
	res.Done(done)
	return s
}

func relClose(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Abs(want) }

// The EWMA, by the documented decay: a call's latency is measured on the
// bubble's clock; with nothing in flight the estimate decays as exp(-t /
// decay), to half after decay × ln 2 and 1/e after decay; a sample dt after
// the last one pulls the estimate geometrically with weight 1 - exp(-dt /
// decay); and a lower one that comes staleAfter or more after the last
// replaces it.
func TestClockEWMADecay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const decay = 10 * time.Second
		_, _, p := build(t, 1, `{"decay": "10s", "probeInterval": "1h"}`)
		inv := p.params.invDecay
		ms := float64(time.Millisecond)

		// The first sample replaces the prior (DefaultRTT).
		t1 := nanotime()
		s := bubbleCall(t, p, 20*time.Millisecond, success)
		if got := s.load(); got != 20*ms {
			t.Fatalf("EWMA after a first call of 20ms: %v, want exactly 20ms", time.Duration(got))
		}
		last := nanotime()
		for _, tc := range []struct {
			after time.Duration
			want  float64
		}{
			{0, 20 * ms},
			{time.Duration(math.Round(float64(decay) * math.Ln2)), 10 * ms},
			{decay, 20 * ms / math.E},
			{2 * decay, 20 * ms / (math.E * math.E)},
		} {
			time.Sleep(time.Duration(last + int64(tc.after) - nanotime()))
			got, n := s.latency(nanotime(), inv)
			if n != 0 || !relClose(got, tc.want) && math.Abs(got-tc.want) > 1 {
				t.Errorf("%v after a 20ms sample: latency %v (%d in flight), want %v", tc.after, time.Duration(got), n, time.Duration(tc.want))
			}
		}
		// The EWMA itself does not move without samples.
		if got := s.load(); got != 20*ms {
			t.Errorf("EWMA moved to %v without a sample", time.Duration(got))
		}

		// A 60ms call picked 2 decays after the sample: dt = 2 decays + 60ms.
		// Picks at t1 and t2 make the usual gap t2 - t1: staleAfter is
		// max(4 gaps, probeInterval/100 = 36s) = 4 gaps, beyond dt.
		t2 := nanotime()
		bubbleCall(t, p, 60*time.Millisecond, success)
		dt := float64(nanotime() - last)
		w := math.Exp(-dt / float64(decay))
		want := math.Exp(w*math.Log(20*ms) + (1-w)*math.Log(60*ms))
		if got := s.load(); !relClose(got, want) {
			t.Errorf("EWMA after 20ms then, %v later, 60ms: %v, want %v (weight %.6f)", time.Duration(dt), time.Duration(got), time.Duration(want), 1-w)
		}
		gap := t2 - t1
		if g := s.gap.Load(); g != gap {
			t.Errorf("usual gap between picks %v, want %v", time.Duration(g), time.Duration(gap))
		}

		// Calls a millisecond apart that never reach the backend (no
		// sample) make the usual gap small, so that staleAfter is
		// probeInterval/100 = 36s. A sample a nanosecond short of that
		// after the last one is averaged in; one at 36s replaces the
		// estimate.
		const stale = 36 * time.Second
		shortGaps := func() {
			for range 100 {
				bubbleCall(t, p, time.Millisecond, noSample)
			}
			if got := time.Duration(s.staleAfter(p.params)); got != stale {
				t.Fatalf("staleAfter %v after picks 1ms apart, want %v", got, stale)
			}
		}
		last = nanotime()
		shortGaps()
		before := s.load()
		time.Sleep(time.Duration(last-nanotime()) + stale - 1 - 5*time.Millisecond)
		bubbleCall(t, p, 5*time.Millisecond, success)
		if got := s.load(); got == 5*ms || !(got < before && got > 5*ms) {
			t.Errorf("a 5ms sample %v after the last: EWMA %v, want between 5ms and %v", stale-1, time.Duration(got), time.Duration(before))
		}
		last = nanotime()
		shortGaps()
		time.Sleep(time.Duration(last-nanotime()) + stale - 3*time.Millisecond)
		bubbleCall(t, p, 3*time.Millisecond, success)
		if got := s.load(); got != 3*ms {
			t.Errorf("a 3ms sample %v after the last: EWMA %v, want exactly 3ms", time.Duration(nanotime()-last), time.Duration(got))
		}
	})
}

// Slow start in p2c_ewma: an endpoint that joins warm ones starts its ramp
// when it becomes READY, and its weight at a pick is the ramp's factor at
// that instant: minWeightPercent at first, (t/window)^(1/aggression) later,
// 1 from the window's end. Endpoints that became READY together ramp
// together; a picker made before the window's end keeps the ramp's start,
// one made at or after it has no ramp left.
func TestClockSlowStartRamp(t *testing.T) {
	for _, tc := range []struct {
		config string
		ramp   func(x float64) float64
		min    float64
	}{
		{`{"slowStart": {"window": "10s"}}`, func(x float64) float64 { return x }, 0.1},
		{`{"slowStart": {"window": "10s", "aggression": 2, "minWeightPercent": 5}}`, math.Sqrt, 0.05},
		{`{"slowStart": {"window": "10s", "aggression": 0.5, "minWeightPercent": 1}}`, func(x float64) float64 { return x * x }, 0.01},
	} {
		t.Run(tc.config, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const window = 10 * time.Second
				built := nanotime()
				b, cc, p := build(t, 2, tc.config)
				// The first two ramp from when they became READY.
				for _, e := range p.endpoints {
					if w := e.weight(nanotime(), p.params); w != tc.min || e.rampStart != built {
						t.Errorf("at the start: weight %v from %d, want %v from %d", w, e.rampStart, tc.min, built)
					}
				}
				time.Sleep(time.Hour)
				joined := nanotime()
				balancertest.Update(t, b, ParseConfig, tc.config, balancertest.Endpoints(3))
				cc.Settle()
				p = cc.State().Picker.(*picker)
				if len(p.endpoints) != 3 {
					t.Fatalf("%d endpoints in the picker, want 3", len(p.endpoints))
				}
				// newEntry returns the new endpoint's entry in the current
				// picker, checking that the others do not ramp.
				newAddr := balancertest.Endpoints(3)[2].Addresses[0].Addr
				newEntry := func() pickEndpoint {
					t.Helper()
					var e pickEndpoint
					for _, pe := range cc.State().Picker.(*picker).endpoints {
						switch {
						case pe.fixedSC.(*balancertest.SubConn).Addrs[0].Addr == newAddr:
							e = pe
						case pe.rampStart != 0:
							t.Errorf("warm endpoint: ramp start %d, want 0 (none)", pe.rampStart)
						}
					}
					return e
				}
				e := newEntry()
				if e.rampStart != joined {
					t.Fatalf("new endpoint's ramp started %v after it joined, want when it joined", time.Duration(e.rampStart-joined))
				}
				for _, age := range []time.Duration{0, window / 20, window / 4, window / 2, 3 * window / 4, window - 1, window, 3 * window} {
					time.Sleep(time.Duration(joined + int64(age) - nanotime()))
					x := float64(age) / float64(window)
					want := 1.0
					if x < 1 {
						want = max(tc.ramp(x), tc.min)
					}
					if got := e.weight(nanotime(), p.params); !relClose(got, want) {
						t.Errorf("at %v of the window: weight %v, want %v", x, got, want)
					}
					// A picker made now (a config update makes one) keeps the
					// ramp until the window's end, and has none from then on.
					balancertest.Update(t, b, ParseConfig, tc.config, balancertest.Endpoints(3))
					wantStart := joined
					if age >= window {
						wantStart = 0
					}
					if got := newEntry().rampStart; got != wantStart {
						t.Errorf("picker made %v into the ramp: ramp start %d, want %d", age, got, wantStart)
					}
				}
			})
		})
	}
}
