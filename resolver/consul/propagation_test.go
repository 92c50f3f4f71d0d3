package consul

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/consultest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	register "github.com/grpclb/grpclb/register/consul"
)

// propagation measures, n times, the time from Register (with its gRPC
// check registered passing) to the first RPC answered by the new instance,
// through a real grpc.NewClient with round_robin. One backend stays
// registered; seven others take turns, so every measured instance needs a
// new connection.
func propagation(tb testing.TB, n int, onReady func()) []time.Duration {
	tb.Helper()
	a := consultest.Start(tb)
	client := a.Client(tb)
	f, err := testbed.StartFleet(8, testbed.FleetConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	bs := f.Backends()
	ctx := context.Background()
	reg := func(b *testbed.Backend) *register.Registration {
		ap := netip.MustParseAddrPort(b.Addr)
		r, err := register.Register(ctx, client, register.Service{Name: "propagation", ID: b.Name, Address: ap.Addr().String(), Port: int(ap.Port())},
			register.WithGRPCCheck(time.Second), register.WithInitialPassing(), register.WithLogger(quiet))
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}
	anchor := reg(bs[0])
	defer anchor.Stop()
	cc, err := grpc.NewClient(fmt.Sprintf("consul://%s/propagation", a.HTTPAddr()),
		grpc.WithResolvers(NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: quiet})),
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

// TestPropagationLatency registers 60 instances one after another and
// checks that the first RPC reaches each. p50 and p99 are logged; only a
// median over 200ms fails the test (propagation broken, not slow), since
// a busy CI machine skews the tail.
func TestPropagationLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ds := propagation(t, 60, nil)
	slices.Sort(ds)
	p50, p99 := percentile(ds, 0.50), percentile(ds, 0.99)
	t.Logf("register → first RPC on the new instance, %d changes: p50 %v, p99 %v, max %v",
		len(ds), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	if p50 > 200*time.Millisecond {
		t.Errorf("p50 %v: propagation is broken, not just slow", p50)
	}
}

// BenchmarkPropagation reports the register → first RPC time per change,
// with its p50 and p99. Run it with -benchtime=100x or more.
func BenchmarkPropagation(b *testing.B) {
	ds := propagation(b, b.N, b.ResetTimer)
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(percentile(ds, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(ds, 0.99))/1e6, "p99-ms")
}
