package proxy

import (
	"context"
	"fmt"
	"slices"
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

// A SubConn shut down while a call runs on it stays in the table (and in
// /clusters, as its address with the call in flight and no subchannel)
// until the call's Done; the others are forgotten without a status read:
// after a mass shutdown, fewer than pruneEvery are left.
func TestClusterForgetsShutDownSubConns(t *testing.T) {
	const n = 5 * pruneEvery
	table := newEndpointTable()
	t.Cleanup(table.forget)
	config := fmt.Sprintf(`{"table":%q,"childPolicy":[{"round_robin":{}}]}`, table.id)
	eps := balancertest.Endpoints(n)
	bal, cc, p, err := balancertest.BuildReady(endpointsName, config, eps, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bal.Close)
	res, err := p.Pick(balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"})
	if err != nil {
		t.Fatal(err)
	}
	busy := res.SubConn.(*balancertest.SubConn).Addrs[0].Addr

	// Every endpoint leaves but the last (which the pick did not take).
	last := eps[n-1]
	if last.Addresses[0].Addr == busy {
		last = eps[n-2]
	}
	cfg, err := endpointsBuilder{}.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if err := bal.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  resolver.State{Endpoints: []resolver.Endpoint{last}},
		BalancerConfig: cfg,
	}); err != nil {
		t.Fatal(err)
	}
	shut := 0
	for _, sc := range cc.SubConns() {
		if sc.IsShutdown() {
			sc.ReportShutdown()
			shut++
		}
	}
	if shut != n-1 {
		t.Fatalf("%d SubConns shut down, want %d", shut, n-1)
	}
	if got := tableSize(table); got > 1+1+pruneEvery {
		t.Errorf("%d SubConns in the table after %d shut down, no status read: want at most %d (the live one, the busy one and fewer than pruneEvery not yet pruned)", got, n-1, 2+pruneEvery)
	}

	got := table.statuses(nil, nil)
	if i := slices.IndexFunc(got, func(e EndpointStatus) bool { return e.Address == busy }); len(got) != 2 || i < 0 || got[i] != (EndpointStatus{Address: busy, InFlight: 1}) {
		t.Errorf("statuses with a call on a shut-down SubConn: %+v; want the live endpoint and {%s, in flight 1, no state or subchannel}", got, busy)
	}
	res.Done(balancer.DoneInfo{})
	if got := table.statuses(nil, nil); len(got) != 1 || got[0].Address != last.Addresses[0].Addr {
		t.Errorf("statuses once the call ended: %+v; want the live endpoint alone", got)
	}
	if got := tableSize(table); got != 1 {
		t.Errorf("%d SubConns in the table once the call ended, want 1", got)
	}
}

func tableSize(t *endpointTable) (n int) {
	t.subConns.Range(func(_, _ any) bool { n++; return true })
	return n
}
