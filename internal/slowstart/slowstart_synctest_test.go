package slowstart

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
)

// A Tracker fed the bubble's clock, as the policies feed it time.Now (or
// its nanotime equivalent) at each state change, with Factor read at later
// instants as a picker does: the ramp's factor over the window, exact at
// each instant; a graceful reconnection keeps the ramp going; one through
// TRANSIENT_FAILURE restarts it when the endpoint is READY again, however
// long the failure lasted.
func TestSynctestRamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := Config{Window: 10 * time.Second, Aggression: 2, MinWeightPercent: 5}
		ep := endpoint("10.0.0.1:80")
		var tr Tracker
		update := func(s connectivity.State) time.Time {
			t.Helper()
			starts := tr.Update(time.Now(), []endpointsharding.ChildState{child(ep, s)})
			if len(starts) != 1 {
				t.Fatalf("%d starts for one child", len(starts))
			}
			return starts[0]
		}
		// factorAt sleeps until at after start and checks the factor there.
		factorAt := func(start time.Time, at time.Duration, want float64) {
			t.Helper()
			time.Sleep(time.Until(start.Add(at)))
			if got := c.Factor(time.Since(start)); math.Abs(got-want) > 1e-12 {
				t.Errorf("%v into the ramp: factor %v, want %v", time.Since(start), got, want)
			}
		}

		update(connectivity.Connecting)
		time.Sleep(time.Second)
		ready := time.Now()
		start := update(connectivity.Ready)
		if !start.Equal(ready) {
			t.Fatalf("ramp started at %v, want when READY, %v", start, ready)
		}
		factorAt(start, 0, 0.05)
		factorAt(start, 25*time.Millisecond, 0.05) // sqrt(0.0025) = the floor
		factorAt(start, 100*time.Millisecond, 0.1)
		factorAt(start, 2500*time.Millisecond, 0.5)

		// A graceful reconnection mid-ramp: the ramp goes on.
		update(connectivity.Idle)
		time.Sleep(time.Second)
		update(connectivity.Connecting)
		time.Sleep(time.Second)
		if s := update(connectivity.Ready); !s.Equal(start) {
			t.Fatalf("after a graceful reconnection the ramp starts at %v, want %v", s, start)
		}
		factorAt(start, 6400*time.Millisecond, 0.8)
		factorAt(start, 10*time.Second-1, math.Sqrt(float64(10*time.Second-1)/float64(10*time.Second)))
		factorAt(start, 10*time.Second, 1)
		factorAt(start, time.Hour, 1)

		// Warm, then TRANSIENT_FAILURE for an hour: the ramp starts again
		// when it is READY, not when it failed.
		update(connectivity.TransientFailure)
		time.Sleep(time.Hour)
		update(connectivity.Idle)
		update(connectivity.Connecting)
		time.Sleep(time.Second)
		again := update(connectivity.Ready)
		if !again.Equal(time.Now()) {
			t.Fatalf("after TRANSIENT_FAILURE the ramp starts at %v, want now, %v", again, time.Now())
		}
		factorAt(again, 0, 0.05)
		factorAt(again, 2500*time.Millisecond, 0.5)
		factorAt(again, 10*time.Second, 1)
	})
}
