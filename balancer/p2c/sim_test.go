package p2c

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// These tests run the picker on a virtual clock: calls one after another
// (light load, nothing else in flight), each taking a latency the test
// chooses, so that minutes of traffic take milliseconds.

// simulate makes calls for the given virtual time, one after another, each
// taking rtt(addr, elapsed) on the endpoint picked, and returns the picked
// endpoint of each call with the virtual time it started at.
func simulate(t *testing.T, p *picker, length time.Duration, rtt func(addr string, elapsed time.Duration) time.Duration) []simCall {
	t.Helper()
	var calls []simCall
	start := nanotime()
	for now := start; now-start < int64(length); {
		res, tr, err := p.pick(pickInfo, now)
		if err != nil {
			t.Fatal(err)
		}
		addr := addrOf(res)
		calls = append(calls, simCall{addr, time.Duration(now - start)})
		d := int64(rtt(addr, time.Duration(now-start)))
		tr.finishAt(success, now+d)
		now += d
	}
	return calls
}

type simCall struct {
	addr string
	at   time.Duration
}

// countFrom counts the calls per endpoint from virtual time from on.
func countFrom(calls []simCall, from time.Duration) (map[string]int, int) {
	counts, total := make(map[string]int), 0
	for _, c := range calls {
		if c.at >= from {
			counts[c.addr]++
			total++
		}
	}
	return counts, total
}

// jitter returns d ± 10%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// Identical backends (1ms ± 10%) under light load share the calls evenly:
// their latencies are within the tolerance, so they take turns.
func TestSimIdenticalBackendsShareTheLoad(t *testing.T) {
	_, _, p := build(t, 10, "")
	calls := simulate(t, p, 30*time.Second, func(string, time.Duration) time.Duration { return jitter(time.Millisecond) })
	counts, total := countFrom(calls, 0)
	fair := float64(total) / 10
	for addr, c := range counts {
		if math.Abs(float64(c)-fair) > 0.05*fair {
			t.Errorf("%s got %d calls, want its fair share %.0f ± 5%%: %v", addr, c, fair, counts)
		}
	}
	if len(counts) != 10 {
		t.Errorf("calls reached %d of 10 endpoints: %v", len(counts), counts)
	}
	t.Logf("30s of sequential 1ms±10%% calls over 10 endpoints: %v", counts)
}

// One backend of five 50ms slower gets almost nothing: a probe about once
// a probe interval (1s), to see whether it recovered.
func TestSimSlowBackend(t *testing.T) {
	_, _, p := build(t, 5, "")
	const slow = "10.0.0.4:8080"
	calls := simulate(t, p, 30*time.Second, func(addr string, _ time.Duration) time.Duration {
		if addr == slow {
			return 50*time.Millisecond + jitter(time.Millisecond)
		}
		return jitter(time.Millisecond)
	})
	counts, total := countFrom(calls, 0)
	if counts[slow] > 40 {
		t.Errorf("the slow backend got %d of %d calls, want at most 40 in 30s (a probe a second)", counts[slow], total)
	}
	t.Logf("30s of sequential calls, one backend of 5 at +50ms: %v", counts)
}

// A backend slow for a while, then fast again, gets its share back within
// about a probe interval: it is probed once a second at most, and the
// fast probe's sample, coming after a probe interval without one, replaces
// its EWMA.
func TestSimSlowBackendRecovers(t *testing.T) {
	_, _, p := build(t, 5, `{"decay":"10s"}`)
	const flaky = "10.0.0.4:8080"
	const slowUntil = 10 * time.Second
	calls := simulate(t, p, 30*time.Second, func(addr string, at time.Duration) time.Duration {
		if addr == flaky && at >= 2*time.Second && at < slowUntil {
			return 50*time.Millisecond + jitter(time.Millisecond)
		}
		return jitter(time.Millisecond)
	})
	var back time.Duration // the first call after it became fast
	for _, c := range calls {
		if c.addr == flaky && c.at >= slowUntil {
			back = c.at
			break
		}
	}
	if back == 0 {
		t.Fatalf("the backend fast again after %v got no call in 30s", slowUntil)
	}
	if back > slowUntil+1100*time.Millisecond {
		t.Errorf("first call to the recovered backend at %v, want within a probe interval of %v", back, slowUntil)
	}
	counts, total := countFrom(calls, slowUntil+2*time.Second)
	if share := float64(counts[flaky]) / float64(total); math.Abs(share-0.2) > 0.03 {
		t.Errorf("from 2s after it recovered the backend got %.1f%% of the calls, want its fair 20%%: %v", 100*share, counts)
	}
	t.Logf("slow from 2s until %v, first call after at %v; from %v on: %v", slowUntil, back, slowUntil+2*time.Second, counts)
}
