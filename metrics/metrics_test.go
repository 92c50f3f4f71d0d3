package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/metrics"
	"github.com/grpclb/grpclb/resolver/static"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Calls through a real channel are counted per endpoint and code; the
// resolver's updates and endpoint count are seen.
func TestPerEndpointMetrics(t *testing.T) {
	f := testbed.FleetFor(t, 3, testbed.FleetConfig{})
	f.Backends()[2].SetErrorRate(1, codes.Unavailable)

	m := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	target := "static:///" + strings.Join(f.Addrs(), ",")
	cc, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(m.WrapResolver(static.NewBuilder(static.Options{}))),
		grpc.WithStatsHandler(m.StatsHandler("echo")),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := echopb.NewEchoClient(cc)
	const calls = 300
	failed := 0
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true)); err != nil {
			failed++
		}
		cancel()
	}
	cc.Close()

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byEndpoint := map[string]float64{}
	var unavailable, total float64
	for _, mf := range families {
		switch mf.GetName() {
		case "grpclb_client_attempts_total":
			for _, mt := range mf.GetMetric() {
				v := mt.GetCounter().GetValue()
				total += v
				byEndpoint[label(mt, "endpoint")] += v
				if label(mt, "code") == "Unavailable" {
					unavailable += v
				}
				if label(mt, "method") != "/grpclb.testbed.v1.Echo/Echo" || label(mt, "target") != "echo" {
					t.Errorf("labels %v", mt.GetLabel())
				}
			}
		case "grpclb_client_in_flight":
			for _, mt := range mf.GetMetric() {
				if v := mt.GetGauge().GetValue(); v != 0 {
					t.Errorf("%s still has %v in flight", label(mt, "endpoint"), v)
				}
			}
		}
	}
	if total != calls {
		t.Errorf("%v attempts counted, want %d", total, calls)
	}
	for _, addr := range f.Addrs() {
		if byEndpoint[addr] < calls/3-5 {
			t.Errorf("endpoint %s: %v attempts (all: %v)", addr, byEndpoint[addr], byEndpoint)
		}
	}
	if int(unavailable) != failed || failed == 0 {
		t.Errorf("%v UNAVAILABLE attempts counted, %d calls failed", unavailable, failed)
	}
	if n := testutil.ToFloat64(gaugeOf(t, reg, "grpclb_client_resolver_endpoints")); n != 3 {
		t.Errorf("resolver_endpoints %v, want 3", n)
	}
	if n := testutil.CollectAndCount(m, "grpclb_client_attempt_seconds"); n != 3 {
		t.Errorf("%d latency series, want one per endpoint", n)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// gaugeOf returns a collector of the one series of a gauge family.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "copy"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no single series of %s", name)
	return nil
}
