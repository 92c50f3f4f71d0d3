package xds_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
	"github.com/grpclb/grpclb/xds/xdstest"
)

// answering returns the sorted names of the size backends that answer c,
// polling until 40 calls reach exactly size backends without a failure:
// round_robin sends calls only to READY endpoints, and a subset's second
// endpoint may still be connecting when the first calls go out.
func answering(t *testing.T, c echopb.EchoClient, size int) []string {
	t.Helper()
	var got []string
	wait.Until(t, 20*time.Second, func() (bool, string) {
		by, failed := tally(c, 40)
		got = slices.Sorted(maps.Keys(by))
		return failed == 0 && len(got) == size, fmt.Sprintf("answering %v with %d failed, want %d backends", got, failed, size)
	})
	return got
}

// waitAnswering polls c until the backends answering 40 calls without a
// failure are want: calls may fail while a backend that left stops before
// its clients hear of it.
func waitAnswering(t *testing.T, c echopb.EchoClient, want []string) {
	t.Helper()
	wait.Until(t, 20*time.Second, func() (bool, string) {
		by, failed := tally(c, 40)
		got := slices.Sorted(maps.Keys(by))
		return failed == 0 && slices.Equal(got, want), fmt.Sprintf("answering %v with %d failed, want %v", got, failed, want)
	})
}

// waitRows polls srv until the nodes holding subset rows are want.
func waitRows(t *testing.T, srv *xds.Server, want map[string]int) {
	t.Helper()
	wait.Until(t, 20*time.Second, func() (bool, string) {
		got := srv.NodeRows()
		return maps.Equal(got, want), fmt.Sprintf("rows %v, want %v", got, want)
	})
}

// Three grpc-go xDS clients of a service with subset {size 2, clients 3}
// over 6 backends each get 2 backends, and every backend serves exactly
// one client. A seventh backend moves nothing (loads stay within one); when
// a backend leaves, only its client's membership moves, to the new one:
// one membership for a bound of ⌈2·3/6⌉+1 = 2. A client that restarts
// within the grace period gets its row, and so its subset, back, and a node
// that comes meanwhile does not take it.
func TestSubsetsServedToXDSClients(t *testing.T) {
	bs := startBackends(t, 7)
	src, target := source(t, "subset", state(bs[:6]...))
	srv, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target, Subset: &xds.Subset{Size: 2, Clients: 3}}}})

	ids := []string{"subset-a", "subset-b", "subset-c"}
	conns := make([]interface{ Close() error }, 3)
	clients := make([]echopb.EchoClient, 3)
	sets := make([][]string, 3)
	for i, id := range ids {
		cc := xdstest.DialNode(t, addr, "svc", id, "")
		conns[i], clients[i] = cc, echopb.NewEchoClient(cc)
		sets[i] = answering(t, clients[i], 2) // in order, so that node i takes row i
	}
	waitRows(t, srv, map[string]int{"subset-a": 0, "subset-b": 1, "subset-c": 2})
	owner := map[string]int{}
	for i, set := range sets {
		if len(set) != 2 {
			t.Fatalf("%s answered by %v, want 2 backends", ids[i], set)
		}
		for _, b := range set {
			if j, ok := owner[b]; ok {
				t.Fatalf("%s serves both %s and %s: %v", b, ids[j], ids[i], sets)
			}
			owner[b] = i
		}
	}
	t.Logf("subsets of 6 backends: %v", sets)

	// b6 joins: every backend has one client or none, so nothing moves.
	// b0 leaves: its client takes the least loaded backend, b6.
	src.UpdateState(state(bs[:7]...))
	src.UpdateState(state(bs[1:7]...))
	bs[0].stop()
	moved := owner["b0"]
	want := []string{sets[moved][1], "b6"} // sets are sorted: b0 comes first
	waitAnswering(t, clients[moved], want)
	for i := range clients {
		if i != moved {
			waitAnswering(t, clients[i], sets[i]) // unchanged: only b0's client moves
		}
	}
	sets[moved] = want

	// subset-b restarts: its row is held for it, so subset-d, dialling
	// meanwhile, gets row 3 (shared with row 0), and subset-b its own.
	conns[1].Close()
	d := echopb.NewEchoClient(xdstest.DialNode(t, addr, "svc", "subset-d", ""))
	waitAnswering(t, d, sets[0]) // row 3 of 3 is row 0
	back := echopb.NewEchoClient(xdstest.DialNode(t, addr, "svc", "subset-b", ""))
	waitAnswering(t, back, sets[1])
	if rows := srv.NodeRows(); rows["subset-b"] != 1 || rows["subset-d"] != 3 {
		t.Errorf("rows %v: want subset-b 1, subset-d 3", rows)
	}
}

// After the grace period a gone node's row is free, and the next node
// takes it, with its subset.
func TestSubsetRowFreedAfterGrace(t *testing.T) {
	bs := startBackends(t, 4)
	_, target := source(t, "subsetgrace", state(bs...))
	srv, addr := xdstest.Start(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target, Subset: &xds.Subset{Size: 2, Clients: 2}}}},
		xds.Options{Logger: testLogger(t), NodeGrace: 100 * time.Millisecond})
	cc := xdstest.DialNode(t, addr, "svc", "grace-x", "")
	first := answering(t, echopb.NewEchoClient(cc), 2)
	waitRows(t, srv, map[string]int{"grace-x": 0})
	cc.Close()
	waitRows(t, srv, map[string]int{})
	y := echopb.NewEchoClient(xdstest.DialNode(t, addr, "svc", "grace-y", ""))
	waitAnswering(t, y, first) // grace-x's freed row 0
	if rows := srv.NodeRows(); rows["grace-y"] != 0 {
		t.Errorf("rows %v: want grace-y in row 0", rows)
	}
}
