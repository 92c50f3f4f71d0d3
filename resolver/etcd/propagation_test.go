package etcd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	register "github.com/grpclb/grpclb/register/etcd"
)

// propagation measures, n times, the time from Register (lease grant and
// put) to the first RPC answered by the new instance, through a real
// grpc.NewClient with round_robin. One backend stays registered; seven
// others take turns: each round registers the next one and deregisters the
// one before, so the set stays small and every measured instance needs a
// new connection (it left the set six rounds earlier).
func propagation(tb testing.TB, n int, onReady func()) []time.Duration {
	tb.Helper()
	e := etcdtest.Start(tb)
	f, err := testbed.StartFleet(8, testbed.FleetConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	bs := f.Backends()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const prefix = "service/propagation"
	ctx := context.Background()
	reg := func(b *testbed.Backend) *register.Registration {
		r, err := register.Register(ctx, e.Client(), prefix, b.Addr, register.WithLogger(quiet))
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}
	anchor := reg(bs[0])
	defer anchor.Stop()
	cc, err := grpc.NewClient(fmt.Sprintf("etcd://%s/%s", e.Endpoint(), prefix),
		grpc.WithResolvers(NewBuilder(Options{Logger: quiet})),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		tb.Fatal(err)
	}
	defer cc.Close()
	c := echopb.NewEchoClient(cc)
	firstOn := func(b *testbed.Backend, start time.Time) time.Duration {
		for {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := c.Echo(cctx, &echopb.EchoRequest{})
			cancel()
			if err == nil && resp.GetBackend() == b.Name {
				return time.Since(start)
			}
			if time.Since(start) > 10*time.Second {
				tb.Fatalf("%s never answered within 10s of its registration (last: %v, %v)", b.Name, resp.GetBackend(), err)
			}
		}
	}
	firstOn(bs[0], time.Now())
	if onReady != nil {
		onReady()
	}

	var prev *register.Registration
	out := make([]time.Duration, 0, n)
	for i := range n {
		b := bs[1+i%7]
		start := time.Now()
		r := reg(b)
		out = append(out, firstOn(b, start))
		if prev != nil {
			if err := prev.Deregister(ctx); err != nil {
				tb.Fatal(err)
			}
		}
		prev = r
	}
	if prev != nil {
		prev.Stop()
	}
	return out
}

// percentile returns the q-th quantile (0 < q <= 1) of sorted durations,
// nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// TestPropagationLatency registers 100 instances one after another and
// checks that the first RPC reaches each. The p99 target (100ms on an idle
// 2-core machine) is a benchmark figure, reported here and by
// BenchmarkPropagation; only a median over 100ms, ten times what was
// measured, fails the test, since a busy CI machine skews the tail.
func TestPropagationLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ds := propagation(t, 100, nil)
	slices.Sort(ds)
	p50, p99 := percentile(ds, 0.50), percentile(ds, 0.99)
	t.Logf("register → first RPC on the new instance, %d changes: p50 %v, p99 %v, max %v",
		len(ds), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	if p50 > 100*time.Millisecond {
		t.Errorf("p50 %v: propagation is broken, not just slow (measured: p50 4-10ms)", p50)
	}
}

// BenchmarkPropagation reports the register → first RPC time per change
// (ns/op is the whole round, including the deregistration of the previous
// instance), with its p50 and p99. Run it with -benchtime=100x or more for
// meaningful percentiles.
func BenchmarkPropagation(b *testing.B) {
	ds := propagation(b, b.N, b.ResetTimer)
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(percentile(ds, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(ds, 0.99))/1e6, "p99-ms")
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(ds, tc.q); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(ds[:50], 0.99); got != 50 {
		t.Errorf("p99 of 50 samples = %v, want the largest", got)
	}
}
