package xdsitest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
	"github.com/grpclb/grpclb/xds/xdstest"
)

// registry is a discovery system the control plane follows: it holds a
// service's backends, which the test changes.
type registry interface {
	// target is the resolver target of the service.
	target() string
	// add makes b a ready instance of the service; remove takes it out.
	add(t *testing.T, b *testbed.Backend)
	remove(t *testing.T, b *testbed.Backend)
}

// rounds is how many backends each test adds (and old ones it removes),
// timing each addition.
const rounds = 20

// startControlPlane serves the service "echo" of target with a Server on
// 127.0.0.1 and returns its address.
func startControlPlane(t *testing.T, target string) string {
	t.Helper()
	_, addr := xdstest.Start(t, xds.Config{Services: []xds.Service{{Name: "echo", Target: target}}}, xds.Options{})
	return addr
}

// call makes one call and returns the backend that answered, "" if it
// failed.
func call(c echopb.EchoClient) string { return testbed.Call(c, 2*time.Second) }

// reached calls until every backend of want has answered, failing after
// 30 s, and returns how long it took.
func reached(t *testing.T, c echopb.EchoClient, want ...*testbed.Backend) time.Duration {
	t.Helper()
	start := time.Now()
	seen := map[string]bool{}
	wait.Until(t, 30*time.Second, func() (bool, string) {
		for range 20 {
			if name := call(c); name != "" {
				seen[name] = true
			}
			if allSeen(seen, want) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("backends answered: %v; want every one of %v", seen, names(want))
	})
	return time.Since(start)
}

func allSeen(seen map[string]bool, want []*testbed.Backend) bool {
	for _, b := range want {
		if !seen[b.Name] {
			return false
		}
	}
	return true
}

func names(bs []*testbed.Backend) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

// left waits until calls stop reaching b (50 calls in a row without it),
// then checks that 100 more do not reach it either.
func left(t *testing.T, c echopb.EchoClient, b *testbed.Backend) {
	t.Helper()
	wait.Until(t, 30*time.Second, func() (bool, string) {
		for range 50 {
			if call(c) == b.Name {
				return false, b.Name + " still answers calls after it left the registry"
			}
		}
		return true, ""
	})
	before := b.Served()
	failed := 0
	for range 100 {
		if name := call(c); name == "" {
			failed++
		}
	}
	if b.Served() != before || failed > 0 {
		t.Errorf("after %s left: it served %d of 100 calls; %d failed", b.Name, b.Served()-before, failed)
	}
}

// followsRegistry runs the common checks on reg: grpc-go's xDS client
// reaches every backend of the service, and, over rounds rounds, calls an
// added backend (timed from the registry write to its first call) and
// stops calling a removed one.
func followsRegistry(t *testing.T, reg registry) {
	f := testbed.FleetFor(t, 3+rounds, testbed.FleetConfig{})
	bs := f.Backends()
	live := slices.Clone(bs[:3])
	for _, b := range live {
		reg.add(t, b)
	}
	var opts []grpc.DialOption
	if d, ok := reg.(interface{ dialOptions() []grpc.DialOption }); ok {
		opts = d.dialOptions()
	}
	c := echopb.NewEchoClient(xdstest.Dial(t, startControlPlane(t, reg.target()), "echo", "", opts...))
	reached(t, c, live...)

	var took []time.Duration
	for i := range rounds {
		nb := bs[3+i]
		start := time.Now()
		reg.add(t, nb)
		reached(t, c, nb)
		took = append(took, time.Since(start)) // from the registry write
		old := live[0]
		live = append(live[1:], nb)
		reg.remove(t, old)
		left(t, c, old)
	}
	slices.Sort(took)
	t.Logf("registry write -> first call at the added backend, %d rounds: p50 %v, p90 %v, max (p95+) %v",
		rounds, took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
	reached(t, c, live...)
}
