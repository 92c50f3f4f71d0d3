package xds_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds" // grpc-go's xDS client: the xds:/// resolver and the xDS policies

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
)

// grpc-go's own xDS client, given a target from grpclb's static resolver,
// reaches every backend, whatever the policy the Cluster carries.
func TestEveryBackendServesWithEachPolicy(t *testing.T) {
	tests := []struct {
		policy     xds.Policy
		hashHeader string
	}{
		{policy: ""},
		{policy: xds.RoundRobin},
		{policy: xds.LeastRequest},
		{policy: xds.WeightedRoundRobin},
		{policy: xds.RingHash}, // without a header, each call hashes at random
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("policy=%q", tt.policy), func(t *testing.T) {
			bs := startBackends(t, 3)
			cfg := xds.Config{Services: []xds.Service{{
				Name:   "svc",
				Target: "static:///" + strings.Join(addrs(bs...), ","),
				Policy: tt.policy,
			}}}
			_, addr := startServer(t, cfg)
			c := dial(t, addr, "svc")
			waitAllServe(t, c, bs...)
		})
	}
}

// ring_hash with a hash header: a key goes to one backend, from two
// clients alike, and different keys reach more than one backend.
func TestRingHashHeader(t *testing.T) {
	bs := startBackends(t, 3)
	cfg := xds.Config{Services: []xds.Service{{
		Name: "keyed", Target: "static:///" + strings.Join(addrs(bs...), ","),
		Policy: xds.RingHash, HashHeader: "x-key",
	}}}
	_, addr := startServer(t, cfg)
	c1, c2 := dial(t, addr, "keyed"), dial(t, addr, "keyed")
	keyed := func(c echopb.EchoClient, key string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-key", key)
		resp, err := c.Echo(ctx, &echopb.EchoRequest{})
		if err != nil {
			t.Fatalf("call with key %q: %v", key, err)
		}
		return resp.GetBackend()
	}
	owners := map[string]bool{}
	for k := range 30 {
		key := fmt.Sprintf("key-%d", k)
		want := keyed(c1, key)
		owners[want] = true
		for i := range 4 {
			c := c1
			if i%2 == 1 {
				c = c2
			}
			if got := keyed(c, key); got != want {
				t.Errorf("key %q: call %d went to %s, the first to %s", key, i, got, want)
			}
		}
	}
	if len(owners) < 2 {
		t.Errorf("30 keys all went to %v: the header is not hashed", owners)
	}
}

// The xDS client follows a resolver whose state changes: an added backend
// gets calls, a removed one stops getting them; a second service on the
// same server is not disturbed.
func TestFollowsResolverChanges(t *testing.T) {
	bs := startBackends(t, 5)
	src, target := source(t, "changes", state(bs[0], bs[1], bs[2]))
	cfg := xds.Config{Services: []xds.Service{
		{Name: "svc", Target: target},
		{Name: "other", Target: "static:///" + bs[4].addr},
	}}
	srv, addr := startServer(t, cfg)
	c := dial(t, addr, "svc")
	other := dial(t, addr, "other")
	waitAllServe(t, c, bs[0], bs[1], bs[2])
	waitAllServe(t, other, bs[4])

	v := srv.Version()
	src.UpdateState(state(bs[0], bs[1], bs[3])) // b2 out, b3 in
	if got := srv.Version(); got != v+1 {
		t.Errorf("version after an update = %d, want %d", got, v+1)
	}
	waitAllServe(t, c, bs[3])
	before := bs[2].calls.Load()
	by, failed := tally(c, 90)
	if failed > 0 || by["b2"] > 0 || bs[2].calls.Load() != before {
		t.Errorf("after b2's removal, 90 calls: %v, %d failed; b2 served %d more", by, failed, bs[2].calls.Load()-before)
	}
	for _, name := range []string{"b0", "b1", "b3"} {
		if by[name] == 0 {
			t.Errorf("after the update, %s got none of 90 calls: %v", name, by)
		}
	}
	if by, failed := tally(other, 10); by["b4"] != 10 {
		t.Errorf("the other service: %v, %d failed; want all 10 on b4", by, failed)
	}
}

// grpclb's static resolver watching a file: the client follows the file.
func TestFollowsStaticFile(t *testing.T) {
	bs := startBackends(t, 4)
	file := filepath.Join(t.TempDir(), "backends.txt")
	write := func(bs ...*backend) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(strings.Join(addrs(bs...), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(bs[0], bs[1], bs[2])
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{
		Name: "svc", Target: "static:///?file=" + file + "&interval=50ms",
	}}})
	c := dial(t, addr, "svc")
	waitAllServe(t, c, bs[0], bs[1], bs[2])

	write(bs[1], bs[2], bs[3]) // b0 out, b3 in
	waitAllServe(t, c, bs[3])
	before := bs[0].calls.Load()
	if by, failed := tally(c, 60); failed > 0 || by["b0"] > 0 || bs[0].calls.Load() != before {
		t.Errorf("after b0 left the file, 60 calls: %v, %d failed", by, failed)
	}
}

// A resolver error, and an update without a usable address, keep the last
// good endpoints: clients connected before and a client connecting after
// still reach every backend.
func TestResolverErrorKeepsLastGood(t *testing.T) {
	bs := startBackends(t, 3)
	src, target := source(t, "errors", state(bs...))
	srv, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})
	c := dial(t, addr, "svc")
	waitAllServe(t, c, bs...)
	v := srv.Version()

	src.CC().ReportError(errors.New("registry unreachable"))
	bad := resolver.State{Endpoints: []resolver.Endpoint{{Addresses: []resolver.Address{{Addr: "no-port"}}}}}
	if err := src.CC().UpdateState(bad); err == nil {
		t.Error("UpdateState with no usable address: no error")
	}
	if got := srv.Version(); got != v {
		t.Errorf("version after errors = %d, want %d (unchanged)", got, v)
	}
	if by, failed := tally(c, 60); failed > 0 || len(by) != 3 {
		t.Errorf("after the errors, 60 calls: %v, %d failed; want all 3 backends, no failure", by, failed)
	}
	late := dial(t, addr, "svc")
	waitAllServe(t, late, bs...)
}

// An update that changes nothing makes no new snapshot; one that changes
// the set makes exactly one.
func TestVersionOnlyGrowsOnChange(t *testing.T) {
	bs := startBackends(t, 2)
	src, target := source(t, "unchanged", state(bs[0]))
	srv, err := xds.NewServer(xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}}, xds.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	v := srv.Version()
	if v != 2 {
		t.Errorf("version after the first update = %d, want 2 (1: no endpoints, 2: the first)", v)
	}
	src.UpdateState(state(bs[0]))
	if got := srv.Version(); got != v {
		t.Errorf("version after the same state = %d, want %d", got, v)
	}
	src.UpdateState(state(bs[0], bs[1]))
	if got := srv.Version(); got != v+1 {
		t.Errorf("version after a change = %d, want %d", got, v+1)
	}
}

// Propagation: from a resolver update adding a backend to that backend's
// first call, with clients calling all along; 50 updates, each swapping
// one backend for another. The backend that left gets no call once its
// successor has had one (but for calls picked before).
func TestPropagationTime(t *testing.T) {
	const updates = 50
	bs := startBackends(t, 4)
	base, extra := bs[:2], bs[2:]
	src, target := source(t, "propagation", state(base[0], base[1], extra[0]))
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})
	c := dial(t, addr, "svc")
	waitAllServe(t, c, base[0], base[1], extra[0])

	// Two callers, bounded in count and time, until the test is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for range 2 {
		wg.Go(func() {
			for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				call(c)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	var took []time.Duration
	for i := range updates {
		in, out := extra[(i+1)%2], extra[i%2]
		in.arm()
		start := time.Now()
		src.UpdateState(state(base[0], base[1], in))
		wait.For(t, 10*time.Second, fmt.Sprintf("update %d: %s gets a call", i, in.name), func() bool {
			return in.first.Load() != 0
		})
		took = append(took, time.Duration(in.first.Load()-start.UnixNano()))
		// Once the new backend has had 20 calls more, the one that left
		// has had at most one more per caller: a call picked before the
		// update.
		left, got := out.calls.Load(), in.calls.Load()
		wait.For(t, 10*time.Second, fmt.Sprintf("update %d: %s gets 20 calls", i, in.name), func() bool {
			return in.calls.Load() >= got+20
		})
		if n := out.calls.Load() - left; n > 2 {
			t.Errorf("update %d: %s, removed, had %d calls after its successor's first", i, out.name, n)
		}
	}
	slices.Sort(took)
	// The nearest-rank percentile q of took.
	p := func(q float64) time.Duration { return took[int(math.Ceil(q*float64(len(took))))-1] }
	t.Logf("propagation over %d updates (resolver update -> first call at the new backend): p50 %v, p90 %v, p99 %v, max %v",
		updates, p(0.50), p(0.90), p(0.99), took[len(took)-1])
}

// A client asking for a service the server does not know fails its calls
// with UNAVAILABLE: the server answers without the listener, which
// grpc-go takes as "does not exist" after its 15 s does-not-exist timer.
func TestUnknownServiceFails(t *testing.T) {
	bs := startBackends(t, 1)
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///" + bs[0].addr}}})
	c := dial(t, addr, "nosuch")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Echo(ctx, &echopb.EchoRequest{})
	// grpc-go's message names the resource ("resource \"nosuch\" of type
	// \"ListenerResource\" has been removed") or, when its resolver's
	// empty update wins, says "produced zero addresses".
	if status.Code(err) != codes.Unavailable {
		t.Errorf("call to xds:///nosuch: %v, want UNAVAILABLE", err)
	}
	t.Logf("call to xds:///nosuch after %v: %v", time.Since(start), err)
}
