package kube

import (
	"slices"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/itest/kubetest"
	"github.com/grpclb/grpclb/internal/resolvertest"
)

// TestAPIServerOutage kills the API server for 20 s under load: no call
// may fail (the last good set stays), and once it is back a change made
// to the slices reaches the client.
func TestAPIServerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 20 s outage")
	}
	api := kubetest.Start(t)
	w := newWorld(t, api, 3)
	bs := w.fleet.Backends()
	w.put("echo", "echo-a", w.eps(bs[0], bs[1])...)
	logs := resolvertest.NewLogRecorder(t)
	c := w.client(w.target("echo"), NewBuilder(Options{Config: api.Config(), Logger: logs.Logger()}))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0], bs[1]), 10*time.Second)

	load := resolvertest.StartLoad(c, 4)
	api.Kill()
	down := time.Now()
	// The outage lasts 20 s of load; the loop only waits it out.
	for time.Since(down) < 20*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	api.Restart()
	w.put("echo", "echo-a", w.eps(bs[1], bs[2])...)
	changed := time.Now()
	resolvertest.Eventually(t, 30*time.Second, "calls reach "+bs[2].Name+" after the API server is back", func() bool { return bs[2].Served() > 0 })
	t.Logf("change made after the restart reached the client in %v", time.Since(changed).Round(time.Millisecond))
	ok, failed := load.Finish()
	if failed != 0 || ok == 0 {
		t.Fatalf("during the outage: %d calls ok, %d failed (first: %v)", ok, failed, load.FirstError())
	}
	t.Logf("%d calls, none failed, across a 20 s API server outage", ok)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1], bs[2]), 10*time.Second)
	if logs.Count("cannot list or watch") == 0 || logs.Count("answers again") == 0 {
		t.Errorf("the outage and the recovery were not both logged: %q", logs.Lines())
	}
}

// propagation measures, n times, the time from an EndpointSlice update
// to the first RPC answered by the endpoint it added, through a real
// grpc.NewClient with round_robin. One backend stays; seven others take
// turns, so every measured endpoint needs a new connection.
func propagation(tb testing.TB, n int, onReady func()) []time.Duration {
	tb.Helper()
	api := kubetest.Start(tb)
	w := newWorld(tb, api, 8)
	bs := w.fleet.Backends()
	w.put("prop", "prop-a", w.eps(bs[0])...)
	c := w.client(w.target("prop"), nil)
	resolvertest.FirstCallOn(tb, c, bs[0].Name, time.Now())
	if onReady != nil {
		onReady()
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		b := bs[1+i%7]
		start := time.Now()
		w.put("prop", "prop-a", w.eps(bs[0], b)...)
		out = append(out, resolvertest.FirstCallOn(tb, c, b.Name, start))
	}
	return out
}

// TestPropagationLatency makes 60 changes and checks that the first RPC
// reaches each new endpoint. The p99 target (100 ms on this 2-core
// machine) is a benchmark figure, reported here and by
// BenchmarkPropagation; only a median over 200 ms fails the test.
func TestPropagationLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ds := propagation(t, 60, nil)
	slices.Sort(ds)
	p50, p99 := resolvertest.Percentile(ds, 0.50), resolvertest.Percentile(ds, 0.99)
	t.Logf("EndpointSlice update → first RPC on the new endpoint, %d updates: p50 %v, p99 %v, max %v",
		len(ds), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	if p50 > 200*time.Millisecond {
		t.Errorf("p50 %v: propagation is broken, not just slow", p50)
	}
}

// BenchmarkPropagation reports the update → first RPC time per change
// (ns/op includes the API server's write), with its p50 and p99. Run it
// with -benchtime=100x for meaningful percentiles.
func BenchmarkPropagation(b *testing.B) {
	ds := propagation(b, b.N, b.ResetTimer)
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(resolvertest.Percentile(ds, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(resolvertest.Percentile(ds, 0.99))/1e6, "p99-ms")
}
