package framerelay

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/resolver"
)

// A cluster keeps a shut-down SubConn that has connections for status
// only while calls run on it (the end-to-end
// TestClustersCountCallsOnARemovedEndpoint checks that), and forgets the
// others without a status read: after a mass shutdown, fewer than
// pruneEvery are left.
func TestClusterForgetsShutDownSubConns(t *testing.T) {
	c := &cluster{}
	pc := &policyCC{c: c}
	var scs []balancer.SubConn
	for i := range 5 * pruneEvery {
		sc, err := pc.NewSubConn([]resolver.Address{{Addr: fmt.Sprintf("10.0.0.%d:80", i)}}, balancer.NewSubConnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A connection a GOAWAY detached, its last call just ended: the
		// SubConn is kept at its shutdown, to be pruned.
		sc.(*subConn).old = map[*backendConn]struct{}{{}: {}}
		scs = append(scs, sc)
	}
	for _, sc := range scs {
		sc.Shutdown()
	}
	c.emu.Lock()
	live, gone := len(c.subs), len(c.gone)
	c.emu.Unlock()
	if live != 0 || gone >= pruneEvery {
		t.Errorf("after %d shutdowns, no status read: %d live SubConns and %d shut-down ones kept; want 0 and fewer than %d", len(scs), live, gone, pruneEvery)
	}
	c.status()
	c.emu.Lock()
	gone = len(c.gone)
	c.emu.Unlock()
	if gone != 0 {
		t.Errorf("%d shut-down SubConns without calls kept after a status read, want 0", gone)
	}
}
