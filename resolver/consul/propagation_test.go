package consul

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
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
	bs := balancertest.StartFleet(tb, 8).Backends()
	reg := func(b *testbed.Backend) *instance {
		ap := netip.MustParseAddrPort(b.Addr)
		return registerWithAgent(tb, client, api.AgentServiceRegistration{Name: "propagation", ID: b.Name, Address: ap.Addr().String(), Port: int(ap.Port())}, time.Second)
	}
	reg(bs[0]) // the anchor, deregistered in tb.Cleanup
	c := resolvertest.RoundRobinClient(tb, fmt.Sprintf("consul://%s/propagation", a.HTTPAddr()),
		grpc.WithResolvers(NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: quiet})))
	return resolvertest.Propagation(tb, c, bs, n, onReady, resolvertest.Deregisters(reg))
}

// TestPropagationLatency registers 60 instances one after another and
// checks that the first RPC reaches each; only a median over 200ms fails.
func TestPropagationLatency(t *testing.T) {
	resolvertest.CheckPropagation(t, "register → first RPC on the new instance", 60, 200*time.Millisecond, propagation)
}

// BenchmarkPropagation reports the register → first RPC time per change,
// with its p50 and p99. Run it with -benchtime=100x or more.
func BenchmarkPropagation(b *testing.B) {
	resolvertest.ReportPropagation(b, propagation)
}
