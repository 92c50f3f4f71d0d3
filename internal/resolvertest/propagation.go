package resolvertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Propagation measures, n times, the time from add(b) (b joins the
// service in the registry under test) to the first call of c answered by
// b. bs[0] is an anchor already in the service and answering; bs[1:]
// take turns, so every measured backend needs a new connection; after
// each round the previous backend leaves (the remove add returned; nil
// when add replaces the whole set). onReady, if not nil, runs before the
// first round (a benchmark's ResetTimer).
func Propagation(tb testing.TB, c echopb.EchoClient, bs []*testbed.Backend, n int, onReady func(), add func(b *testbed.Backend) (remove func() error)) []time.Duration {
	tb.Helper()
	FirstCallOn(tb, c, bs[0].Name, time.Now())
	if onReady != nil {
		onReady()
	}
	var removePrev func() error
	out := make([]time.Duration, 0, n)
	for i := range n {
		b := bs[1+i%(len(bs)-1)]
		start := time.Now()
		remove := add(b)
		out = append(out, FirstCallOn(tb, c, b.Name, start))
		if removePrev != nil {
			if err := removePrev(); err != nil {
				tb.Fatal(err)
			}
		}
		removePrev = remove
	}
	return out
}

// Deregisters adapts reg, a test's registration of a backend, to
// Propagation's add: the registration's Deregister (with a background
// context) is the removal.
func Deregisters[R interface{ Deregister(context.Context) error }](reg func(*testbed.Backend) R) func(*testbed.Backend) func() error {
	return func(b *testbed.Backend) func() error {
		r := reg(b)
		return func() error { return r.Deregister(context.Background()) }
	}
}

// Measure measures n propagations through one resolver, as Propagation
// does, running onReady (if not nil) before the first.
type Measure func(tb testing.TB, n int, onReady func()) []time.Duration

// CheckPropagation measures n changes (skipped with -short), logs the
// median, p99 and maximum, and fails the test only when the median is over
// limit: propagation broken, not slow (a busy machine skews the tail; the
// targets are benchmark figures).
func CheckPropagation(t *testing.T, what string, n int, limit time.Duration, measure Measure) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	ds := slices.Sorted(slices.Values(measure(t, n, nil)))
	p50, p99 := Percentile(ds, 0.50), Percentile(ds, 0.99)
	round := 10 * time.Microsecond
	t.Logf("%s, %d changes: p50 %v, p99 %v, max %v", what, len(ds), p50.Round(round), p99.Round(round), ds[len(ds)-1].Round(round))
	if p50 > limit {
		t.Errorf("p50 %v: propagation is broken, not just slow", p50)
	}
}

// ReportPropagation measures b.N changes, the timer reset once the client
// is ready, and reports their median and p99 as a benchmark's p50-ms and
// p99-ms.
func ReportPropagation(b *testing.B, measure Measure) {
	ds := measure(b, b.N, b.ResetTimer)
	b.StopTimer()
	ds = slices.Sorted(slices.Values(ds))
	b.ReportMetric(float64(Percentile(ds, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(Percentile(ds, 0.99))/1e6, "p99-ms")
}
