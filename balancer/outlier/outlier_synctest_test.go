package outlier

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// These tests run the policy, its goroutine and its timers in a
// testing/synctest bubble, on a fake channel (balancertest): time is the
// bubble's virtual clock, which moves only when every goroutine of the
// bubble is blocked, so sweeps, ejections and returns happen at exact
// instants, which the tests check to the nanosecond.

var (
	stUnavailable = balancer.DoneInfo{Err: status.Error(codes.Unavailable, "down"), BytesSent: true}
	stAnswered    = balancer.DoneInfo{BytesSent: true, BytesReceived: true}
)

// stBuild builds the policy over n endpoints in the bubble and waits until
// it has settled: its goroutine has delivered every health update.
func stBuild(t *testing.T, config string, n int) (*outlierBalancer, *balancertest.ClientConn) {
	t.Helper()
	b, cc, _, err := balancertest.Build(Name, config, balancertest.Endpoints(n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	synctest.Wait()
	return b.(*outlierBalancer), cc
}

// stSleepUntil sleeps until the bubble's clock reads at, then waits until
// every goroutine of the bubble (the policy's run among them) is blocked:
// whatever was due by at has happened.
func stSleepUntil(t *testing.T, at time.Time) {
	t.Helper()
	d := time.Until(at)
	if d < 0 {
		t.Fatalf("sleeping until %v, %v in the past", at, -d)
	}
	time.Sleep(d)
	synctest.Wait()
}

// stIsEjected reports whether the endpoint at addr is ejected.
func stIsEjected(b *outlierBalancer, addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.byAddr[addr]
	return e != nil && e.ejected.Load()
}

// stCall makes n calls through the channel's picker; those that land on
// victim end with done, the others succeed. It returns how many landed on
// victim.
func stCall(t *testing.T, cc *balancertest.ClientConn, n int, victim string, done balancer.DoneInfo) int {
	t.Helper()
	hits := 0
	for range n {
		res, err := cc.State().Picker.Pick(balancer.PickInfo{Ctx: context.Background()})
		if err != nil {
			t.Fatalf("pick: %v", err)
		}
		if addrOf(res) == victim {
			hits++
			res.Done(done)
		} else {
			res.Done(stAnswered)
		}
	}
	return hits
}

// The successRate and failurePercentage detectors run every interval,
// from when the policy was built: failures in an interval eject the
// endpoint at the end of that interval, not a nanosecond earlier, and an
// interval without failures ejects nothing. The ejected endpoint comes
// back exactly baseEjectionTime after its ejection, which is not an
// interval's end: its own timer brings it back.
func TestSynctestSweepEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, base = 10 * time.Second, 25 * time.Second
		t0 := time.Now()
		b, cc := stBuild(t, `{"interval":"10s","baseEjectionTime":"25s","maxEjectionPercent":100,
			"failurePercentage":{"threshold":50,"minimumHosts":1,"requestVolume":4},
			"childPolicy":[{"round_robin":{}}]}`, 3)
		a, c := balancertest.Endpoints(3)[0].Addresses[0].Addr, balancertest.Endpoints(3)[2].Addresses[0].Addr

		stSleepUntil(t, t0.Add(time.Second))
		if hits := stCall(t, cc, 30, a, stUnavailable); hits != 10 {
			t.Fatalf("%d of 30 round-robin calls reached %s, want 10", hits, a)
		}
		stSleepUntil(t, t0.Add(interval-1))
		if stIsEjected(b, a) {
			t.Fatalf("%s ejected before the first interval ended", a)
		}
		stSleepUntil(t, t0.Add(interval))
		if !stIsEjected(b, a) {
			t.Fatalf("%s not ejected at the end of the interval its calls failed in", a)
		}
		if hits := stCall(t, cc, 30, a, stUnavailable); hits != 0 {
			t.Errorf("%d calls reached the ejected %s", hits, a)
		}

		// c's calls fail in the third interval, (20s, 30s]: the sweep at 20s
		// ejects nothing, the one at 30s ejects c.
		stSleepUntil(t, t0.Add(2*interval+5*time.Second))
		if stIsEjected(b, c) {
			t.Fatalf("%s ejected at the sweep of an interval in which its calls succeeded", c)
		}
		if hits := stCall(t, cc, 20, c, stUnavailable); hits != 10 {
			t.Fatalf("%d of 20 calls reached %s, want 10", hits, c)
		}
		stSleepUntil(t, t0.Add(3*interval-1))
		if stIsEjected(b, c) {
			t.Fatalf("%s ejected before the third interval ended", c)
		}
		stSleepUntil(t, t0.Add(3*interval))
		if !stIsEjected(b, c) {
			t.Fatalf("%s not ejected at the end of the third interval", c)
		}

		// a was ejected at 10s for baseEjectionTime: back at 35s exactly.
		back := t0.Add(interval + base)
		stSleepUntil(t, back.Add(-1))
		if !stIsEjected(b, a) {
			t.Fatalf("%s back 1ns before its ejection time was up", a)
		}
		stSleepUntil(t, back)
		if stIsEjected(b, a) {
			t.Fatalf("%s still ejected when its ejection time was up", a)
		}
		if hits := stCall(t, cc, 2, a, stAnswered); hits != 1 {
			t.Errorf("%d of 2 calls reached %s once back (with %s ejected), want 1", hits, a, c)
		}
	})
}

// An endpoint ejected again and again stays out baseEjectionTime × n the
// n-th time, at most max(baseEjectionTime, maxEjectionTime), and comes back
// exactly then; every interval in which it is not ejected takes one off n.
func TestSynctestEjectionTimeGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Minute
		t0 := time.Now()
		b, cc := stBuild(t, `{"interval":"1m","baseEjectionTime":"10s","maxEjectionTime":"45s",
			"consecutiveFailures":{"threshold":1},"childPolicy":[{"round_robin":{}}]}`, 3)
		victim := balancertest.Endpoints(3)[1].Addresses[0].Addr

		// ejectFor fails one call to victim, which ejects it at once, and
		// checks that it is back exactly want later.
		ejectFor := func(want time.Duration) {
			t.Helper()
			if hits := stCall(t, cc, 3, victim, stUnavailable); hits != 1 {
				t.Fatalf("%d of 3 calls reached %s, want 1", hits, victim)
			}
			start := time.Now()
			if !stIsEjected(b, victim) {
				t.Fatalf("%s not ejected after a failed call (threshold 1)", victim)
			}
			stSleepUntil(t, start.Add(want-1))
			if !stIsEjected(b, victim) {
				t.Fatalf("%s back after %v, want %v", victim, want-1, want)
			}
			if hits := stCall(t, cc, 6, victim, stAnswered); hits != 0 {
				t.Fatalf("%d calls reached the ejected %s", hits, victim)
			}
			stSleepUntil(t, start.Add(want))
			if stIsEjected(b, victim) {
				t.Fatalf("%s still ejected after %v", victim, want)
			}
			if hits := stCall(t, cc, 3, victim, stAnswered); hits != 1 {
				t.Fatalf("%d of 3 calls reached %s once back, want 1", hits, victim)
			}
		}

		// Start off the sweeps' instants (t0 + k minutes), and re-eject the
		// victim as soon as it is back: no sweep finds it in, until 146s.
		stSleepUntil(t, t0.Add(time.Second))
		for _, want := range []time.Duration{10, 20, 30, 40, 45} { // 50s capped at 45s
			ejectFor(want * time.Second)
		}
		if got, want := time.Since(t0), 146*time.Second; got != want {
			t.Fatalf("the ejections ended %v after the start, want %v", got, want)
		}
		// The sweeps at 3m and 4m take the multiplier from 5 to 3: the
		// next ejection is the 4th's 40s.
		stSleepUntil(t, t0.Add(4*interval+10*time.Second))
		ejectFor(40 * time.Second)
	})
}

// A config update with a new interval restarts the sweeps from then on.
func TestSynctestIntervalChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		config := `{"interval":"10s","baseEjectionTime":"1h","failurePercentage":{"threshold":50,"minimumHosts":1,"requestVolume":4},"childPolicy":[{"round_robin":{}}]}`
		b, cc := stBuild(t, config, 3)
		victim := balancertest.Endpoints(3)[0].Addresses[0].Addr

		stSleepUntil(t, t0.Add(15*time.Second))
		updated := time.Now()
		balancertest.Update(t, b, ParseConfig, `{"interval":"1m","baseEjectionTime":"1h","failurePercentage":{"threshold":50,"minimumHosts":1,"requestVolume":4},"childPolicy":[{"round_robin":{}}]}`, balancertest.Endpoints(3))
		synctest.Wait()
		if hits := stCall(t, cc, 30, victim, stUnavailable); hits != 10 {
			t.Fatalf("%d of 30 calls reached %s, want 10", hits, victim)
		}
		// The old interval's next sweep, at 20s, does not come; the new one
		// sweeps a minute after the update.
		stSleepUntil(t, updated.Add(time.Minute-1))
		if stIsEjected(b, victim) {
			t.Fatalf("%s ejected before a minute after the interval became 1m", victim)
		}
		stSleepUntil(t, updated.Add(time.Minute))
		if !stIsEjected(b, victim) {
			t.Fatalf("%s not ejected a minute after the interval became 1m", victim)
		}
	})
}
