package xds

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/balancer/subset"
)

// endpointsState is a resolver state with the endpoints 10.0.<i/250>.<i%250>:8080
// for i in ids.
func endpointsState(ids ...int) resolver.State {
	var s resolver.State
	for _, i := range ids {
		s.Endpoints = append(s.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250)}}})
	}
	return s
}

// feed gives srv's service "svc" the endpoints of st, as its resolver would.
func feed(t *testing.T, srv *Server, st resolver.State) {
	t.Helper()
	locs, _, skipped := lbEndpoints(st)
	if len(skipped) > 0 {
		t.Fatal(skipped)
	}
	if _, _, err := srv.update("svc", locs); err != nil {
		t.Fatal(err)
	}
}

// memberships returns the rows as (row, endpoint) pairs, and the number of
// rows each endpoint is in.
func memberships(rows [][]string) (pairs map[string]bool, load map[string]int) {
	pairs, load = map[string]bool{}, map[string]int{}
	for c, row := range rows {
		for _, k := range row {
			pairs[fmt.Sprint(c, "/", k)] = true
			load[k]++
		}
	}
	return pairs, load
}

// moved counts the memberships of b that a does not have.
func moved(a, b [][]string) int {
	pa, _ := memberships(a)
	pb, _ := memberships(b)
	n := 0
	for p := range pb {
		if !pa[p] {
			n++
		}
	}
	return n
}

// The fleet, 300 clients × 300 backends with subsets of 10, served
// by the control plane: every backend in exactly 10 rows, every node's
// snapshot holding its row's 10 endpoints, and one backend joining or
// leaving moves at most ⌈10·300/n⌉+1 memberships, where recomputing the
// assignment from the set alone (subset.Assign, the policy's default)
// moves several times more.
func TestSubsetFleetChurn(t *testing.T) {
	const clients, size = 300, 10
	srv, err := NewServer(Config{Services: []Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &Subset{Size: size, Clients: clients}}}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ids := make([]int, 300)
	for i := range ids {
		ids[i] = i
	}
	feed(t, srv, endpointsState(ids...))
	for c := range clients {
		srv.nodeStream(streamKey{id: int64(c + 1)}, &corepb.Node{Id: fmt.Sprint("n", c)})
	}
	rows := srv.rows["svc"].rows
	_, load := memberships(rows)
	for k, n := range load {
		if n != size {
			t.Fatalf("backend %s is in %d rows, want %d", k, n, size)
		}
	}
	if len(load) != 300 {
		t.Fatalf("%d backends in rows, want 300", len(load))
	}

	// Node n7 has row 7; its snapshot's assignment is that row.
	snap, err := srv.cache.GetSnapshot(nodeKey("n7"))
	if err != nil {
		t.Fatal(err)
	}
	cla := snap.GetResources(resourcev3.EndpointType)["svc"].(*endpointpb.ClusterLoadAssignment)
	var got []string
	for _, l := range cla.GetEndpoints() {
		for _, ep := range l.GetLbEndpoints() {
			got = append(got, endpointKey(ep))
		}
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(rows[7]))) {
		t.Fatalf("n7's snapshot has %v, want row 7 %v", got, rows[7])
	}

	keys := func(ids []int) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = fmt.Sprintf("10.0.%d.%d:8080", id/250, id%250)
		}
		return out
	}
	pure := func(ids []int) [][]string {
		ks := keys(ids)
		out := [][]string{}
		for _, row := range subset.Assign(ks, clients, size) {
			var r []string
			for _, i := range row {
				r = append(r, ks[i])
			}
			out = append(out, r)
		}
		return out
	}
	prev := ids
	for _, step := range []struct {
		name string
		ids  []int
	}{
		{"backend 300 joins", append(slices.Clone(ids), 300)},
		{"backend 300 leaves", ids},
		{"backend 17 leaves", slices.Delete(slices.Clone(ids), 17, 18)},
		{"backend 17 comes back", ids},
	} {
		before := srv.rows["svc"].rows
		feed(t, srv, endpointsState(step.ids...))
		after := srv.rows["svc"].rows
		fewer := min(len(prev), len(step.ids))
		bound := (size*clients+fewer-1)/fewer + 1 // ⌈k·clients/backends⌉ + 1
		got, reshuffle := moved(before, after), moved(pure(prev), pure(step.ids))
		_, loads := memberships(after)
		lo, hi := size*clients, 0
		for _, l := range loads {
			lo, hi = min(lo, l), max(hi, l)
		}
		t.Logf("%s: %d memberships moved (bound %d); subset.Assign from the set alone moves %d", step.name, got, bound, reshuffle)
		if got > bound || hi-lo > 1 || len(loads) != len(step.ids) {
			t.Errorf("%s: %d memberships moved (bound %d), backend loads %d..%d over %d backends (want within 1, all %d)", step.name, got, bound, lo, hi, len(loads), len(step.ids))
		}
		prev = step.ids
	}
}

// State-of-the-world and delta streams are numbered apart: the same number
// on both kinds is two streams of two nodes, and closing one leaves the
// other's node connected.
func TestSubsetStreamsOfBothKinds(t *testing.T) {
	srv, err := NewServer(Config{Services: []Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &Subset{Size: 1, Clients: 2}}}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.nodeStream(streamKey{false, 1}, &corepb.Node{Id: "sotw"})
	srv.nodeStream(streamKey{true, 1}, &corepb.Node{Id: "delta"})
	srv.streamClosed(streamKey{true, 1})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if a, b := srv.nodes["sotw"], srv.nodes["delta"]; a == nil || b == nil || a.streams != 1 || b.streams != 0 || a.row == b.row {
		t.Fatalf("nodes after closing the delta stream 1: sotw %+v, delta %+v; want sotw with 1 stream, delta with 0, in rows of their own", a, b)
	}
}

// BenchmarkSubsetUpdate is the cost of one endpoint update of a subsetted
// service (one endpoint leaves or comes back) with every node's snapshot
// rebuilt: 1000 nodes, 1000 endpoints, subsets of 10.
//
//	go test -run '^$' -bench SubsetUpdate ./xds
func BenchmarkSubsetUpdate(b *testing.B) {
	const nodes, endpoints = 1000, 1000
	srv, err := NewServer(Config{Services: []Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &Subset{Size: 10, Clients: nodes}}}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ids := make([]int, endpoints)
	for i := range ids {
		ids[i] = i
	}
	all, fewer := endpointsState(ids...), endpointsState(ids[1:]...)
	locs, _, _ := lbEndpoints(all)
	fewerLocs, _, _ := lbEndpoints(fewer)
	if _, _, err := srv.update("svc", locs); err != nil {
		b.Fatal(err)
	}
	for c := range nodes {
		srv.nodeStream(streamKey{id: int64(c + 1)}, &corepb.Node{Id: fmt.Sprint("n", c)})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next := locs
		if i%2 == 0 {
			next = fewerLocs
		}
		if _, _, err := srv.update("svc", next); err != nil {
			b.Fatal(err)
		}
	}
}
