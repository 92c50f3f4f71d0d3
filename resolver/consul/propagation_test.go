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

	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// propagation measures, n times, the time from registering an instance
// with the agent (the one call register/consul's Register makes: the
// service with its gRPC check registered passing) to the first RPC answered
// by the new instance, through a real grpc.NewClient with round_robin. It
// measures the resolver, so it registers through the agent's API, not
// register/consul (whose tests import this module). One backend stays
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
	reg := func(b *testbed.Backend) *instance {
		ap := netip.MustParseAddrPort(b.Addr)
		return registerWithAgent(tb, client, api.AgentServiceRegistration{Name: "propagation", ID: b.Name, Address: ap.Addr().String(), Port: int(ap.Port())}, time.Second)
	}
	reg(bs[0]) // the anchor, deregistered in tb.Cleanup
	cc, err := grpc.NewClient(fmt.Sprintf("consul://%s/propagation", a.HTTPAddr()),
		grpc.WithResolvers(NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: quiet})),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		tb.Fatal(err)
	}
	defer cc.Close()
	c := echopb.NewEchoClient(cc)
	resolvertest.FirstCallOn(tb, c, bs[0].Name, time.Now())
	if onReady != nil {
		onReady()
	}
	var prev *instance
	out := make([]time.Duration, 0, n)
	for i := range n {
		b := bs[1+i%7]
		start := time.Now()
		r := reg(b)
		out = append(out, resolvertest.FirstCallOn(tb, c, b.Name, start))
		if prev != nil {
			if err := prev.Deregister(ctx); err != nil {
				tb.Fatal(err)
			}
		}
		prev = r
	}
	return out
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
	p50, p99 := resolvertest.Percentile(ds, 0.50), resolvertest.Percentile(ds, 0.99)
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
	b.ReportMetric(float64(resolvertest.Percentile(ds, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(resolvertest.Percentile(ds, 0.99))/1e6, "p99-ms")
}
