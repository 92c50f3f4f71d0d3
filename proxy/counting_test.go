package proxy

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// buildCluster builds a cluster's policy (the endpoints wrapper over
// child) on balancertest's fake channel over eps, every SubConn READY,
// and returns its picker and the cluster's endpoint table.
func buildCluster(tb testing.TB, child string, eps []resolver.Endpoint) (balancer.Picker, *endpointTable) {
	tb.Helper()
	table := newEndpointTable()
	tb.Cleanup(table.forget)
	config := fmt.Sprintf(`{"table":%q,"childPolicy":[{%q:{}}]}`, table.id, child)
	bal, _, p, err := balancertest.BuildReady(endpointsName, config, eps, len(eps))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(bal.Close)
	return p, table
}

// A cluster's pick hands gRPC the SubConn gRPC made (not the wrapper its
// policy holds), counts the call in flight on its endpoint until Done, and
// keeps the child's own Done.
func TestClusterPickCountsInFlight(t *testing.T) {
	for _, child := range []string{"round_robin", "p2c_ewma"} {
		t.Run(child, func(t *testing.T) {
			eps := balancertest.Endpoints(3)
			p, table := buildCluster(t, child, eps)
			addrs := []string{eps[0].Addresses[0].Addr, eps[1].Addresses[0].Addr, eps[2].Addresses[0].Addr}
			inFlight := func() (sum int64) {
				for _, s := range table.statuses(addrs, nil) {
					sum += s.InFlight
				}
				return sum
			}

			info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}
			var dones []func(balancer.DoneInfo)
			for range 6 {
				res, err := p.Pick(info)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := res.SubConn.(*balancertest.SubConn); !ok {
					t.Fatalf("the pick returned a %T, want gRPC's SubConn (*balancertest.SubConn here)", res.SubConn)
				}
				dones = append(dones, res.Done)
			}
			if got := inFlight(); got != 6 {
				t.Errorf("%d calls in flight after 6 picks, want 6", got)
			}
			for _, done := range dones {
				done(balancer.DoneInfo{})
			}
			if got := inFlight(); got != 0 {
				t.Errorf("%d calls in flight after every Done, want 0", got)
			}
		})
	}
}
