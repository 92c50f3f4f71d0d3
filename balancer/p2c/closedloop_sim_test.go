package p2c

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// closedLoop runs callers that each make one call after another on a
// virtual clock, every call taking latency(addr) from the moment it is
// picked, and returns each call's latency and the calls per endpoint.
func closedLoop(t *testing.T, p *picker, callers, calls int, latency func(addr string) time.Duration) ([]time.Duration, map[string]int) {
	t.Helper()
	var q timeQueue[event]
	now := nanotime()
	start := func(at int64) {
		res, tr, err := p.pick(pickInfo, at)
		if err != nil {
			t.Fatal(err)
		}
		addr := addrOf(res)
		d := latency(addr)
		heap.Push(&q, event{at: at + int64(d), tr: tr, addr: addr, rtt: d})
	}
	for range callers {
		start(now)
	}
	lat := make([]time.Duration, 0, calls)
	counts := map[string]int{}
	for len(lat) < calls {
		e := heap.Pop(&q).(event)
		e.tr.finishAt(success, e.at)
		lat = append(lat, e.rtt)
		counts[e.addr]++
		start(e.at)
	}
	return lat, counts
}

type event struct {
	at   int64
	tr   *tracker
	addr string
	rtt  time.Duration
}

func (e event) time() int64 { return e.at }

// labLatency is a healthy backend's latency in the lab's slow scenario on a
// busy 2-core machine: 1ms of work plus a log-normal wait for the CPU
// (median 1.5ms; the total's p99 about 9ms and p99.9 about 14ms).
func labLatency() time.Duration {
	return time.Millisecond + time.Duration(1.5e6*math.Exp(0.715*rand.NormFloat64()))
}

func quantile(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// The lab's slow scenario on a virtual clock: 64 callers in a closed loop
// over 5 backends whose latency does not grow with their load, one of them
// 50ms slower. p2c_ewma keeps the fleet's p99 within 1.5× and its p99.9
// within 3× of the healthy backends' alone (the targets).
//
// Two things make this hold (before them: p99.9 3.6×, the slow backend
// 0.6% of the calls): calls in flight weigh against latency by
// (in-flight + 1 + the pair's mean in-flight), not (in-flight + 1), so 16
// calls in flight on each healthy backend no longer make an idle backend
// 17× slower look no dearer; and a lower sample pulls the peak EWMA at
// least minPull of the way, so at thousands of calls a second a healthy
// backend's EWMA is not its largest sample of the last 10s.
func TestSimClosedLoopSlowBackend(t *testing.T) {
	const slow = "10.0.0.4:8080"
	const calls = 200000
	healthy := make([]time.Duration, calls)
	for i := range healthy {
		healthy[i] = labLatency()
	}
	b, _, p := build(t, 5, "")
	lat, counts := closedLoop(t, p, 64, calls, func(addr string) time.Duration {
		if addr == slow {
			return 50*time.Millisecond + labLatency()
		}
		return labLatency()
	})
	h99, h999 := quantile(healthy, 0.99), quantile(healthy, 0.999)
	p99, p999 := quantile(lat, 0.99), quantile(lat, 0.999)
	share := float64(counts[slow]) / float64(len(lat))
	t.Logf("healthy p99 %v p99.9 %v; p2c_ewma p99 %v (%.2f×) p99.9 %v (%.2f×); slow backend's share %.2f%%; calls %v; EWMAs %v",
		h99, h999, p99, float64(p99)/float64(h99), p999, float64(p999)/float64(h999), 100*share, counts, ewmas(b))
	if r := float64(p99) / float64(h99); r > 1.5 {
		t.Errorf("p99 %v is %.2f× the healthy fleet's %v, want at most 1.5×", p99, r, h99)
	}
	if r := float64(p999) / float64(h999); r > 3 {
		t.Errorf("p99.9 %v is %.2f× the healthy fleet's %v, want at most 3×", p999, r, h999)
	}
	if share > 0.002 {
		t.Errorf("the slow backend got %.2f%% of the calls, want under 0.2%%", 100*share)
	}
}

// ewmas returns the EWMA of each of the 5 endpoints build made.
func ewmas(b *p2cBalancer) []time.Duration {
	var out []time.Duration
	for i := range 5 {
		out = append(out, time.Duration(b.statsOf(fmt.Sprintf("10.0.0.%d:8080", i)).load()))
	}
	return out
}
