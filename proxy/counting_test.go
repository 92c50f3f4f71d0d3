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
// until the call's Done, and is forgotten then without a status read once
// pruneEvery SubConns have been kept so.
func TestClusterForgetsShutDownSubConns(t *testing.T) {
	const n = 5*pruneEvery - 1
	table := newEndpointTable()
	t.Cleanup(table.forget)
	config := fmt.Sprintf(`{"table":%q,"childPolicy":[{"round_robin":{}}]}`, table.id)
	cfg, err := endpointsBuilder{}.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	eps := balancertest.Endpoints(n + 2)
	bal, cc, _, err := balancertest.BuildReady(endpointsName, config, eps[:n+1], n+1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bal.Close)
	reported := map[*balancertest.SubConn]bool{}
	publish := func(eps ...resolver.Endpoint) {
		t.Helper()
		if err := bal.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: eps}, BalancerConfig: cfg}); err != nil {
			t.Fatal(err)
		}
		cc.Settle()
		for _, sc := range cc.SubConns() { // gRPC reports SHUTDOWN after Shutdown
			if sc.IsShutdown() && !reported[sc] {
				reported[sc] = true
				sc.ReportShutdown()
			}
		}
	}
	// callOnEach starts a call on each of the n endpoints of the picker
	// (round_robin takes each in turn) and returns their Dones.
	callOnEach := func(n int) map[string]func(balancer.DoneInfo) {
		t.Helper()
		dones := map[string]func(balancer.DoneInfo){}
		for range n {
			res, err := cc.State().Picker.Pick(balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"})
			if err != nil {
				t.Fatal(err)
			}
			dones[res.SubConn.(*balancertest.SubConn).Addrs[0].Addr] = res.Done
		}
		if len(dones) != n {
			t.Fatalf("%d picks took %d endpoints, want %d", n, len(dones), n)
		}
		return dones
	}
	dones := callOnEach(n + 1)

	// Every endpoint but the last leaves, a call on each (n kept, one
	// short of a pruning); then all their calls end but one's.
	last, added := eps[n], eps[n+1]
	publish(last, added)
	busy := eps[0].Addresses[0].Addr
	for addr, done := range dones {
		if addr != busy && addr != last.Addresses[0].Addr {
			done(balancer.DoneInfo{})
		}
	}
	if got := tableSize(table); got != n+2 {
		t.Errorf("%d SubConns in the table after %d shut down with a call each, no status read: want %d", got, n, n+2)
	}

	// The added endpoint leaves with a call on it: the n-th kept SubConn
	// prunes those whose calls ended.
	addedDone := callOnEach(2)[added.Addresses[0].Addr]
	publish(last)
	if got := tableSize(table); got != 3 {
		t.Errorf("%d SubConns in the table after the pruning, want 3 (the live one and the two with a call)", got)
	}
	got := table.statuses(nil, nil)
	want := []EndpointStatus{{Address: busy, InFlight: 1}, {Address: added.Addresses[0].Addr, InFlight: 1}}
	for _, w := range want {
		if !slices.Contains(got, w) || len(got) != 3 {
			t.Errorf("statuses with calls on shut-down SubConns: %+v; want the live endpoint and %+v", got, want)
			break
		}
	}
	dones[busy](balancer.DoneInfo{})
	addedDone(balancer.DoneInfo{})
	if got := table.statuses(nil, nil); len(got) != 1 || got[0].Address != last.Addresses[0].Addr {
		t.Errorf("statuses once every call on a shut-down SubConn ended: %+v; want the live endpoint alone", got)
	}
	if got := tableSize(table); got != 1 {
		t.Errorf("%d SubConns in the table after a status read, want 1", got)
	}
}

func tableSize(t *endpointTable) (n int) {
	t.subConns.Range(func(_, _ any) bool { n++; return true })
	return n
}
