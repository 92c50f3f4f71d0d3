package framerelay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

const echoService = "/grpclb.testbed.v1.Echo/"

// dialRelay connects a client to the relay at addr, closed when the test
// ends.
func dialRelay(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func (c *cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// TestReloadSwapsRoutesAndRetiresClusters: after a Reload new calls take
// the new routes at once (a service moved to another cluster); a call in
// flight on the cluster the reload took away goes on, and the cluster is
// closed after it ends; a cluster whose
// Key is unchanged is kept (the same connections), one whose Key changed
// is built anew; a bad config changes nothing.
func TestReloadSwapsRoutesAndRetiresClusters(t *testing.T) {
	fleet, err := testbed.StartFleet(2, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	a, b := fleet.Backends()[0], fleet.Backends()[1]
	one := Cluster{Target: "static:///" + a.Addr, Key: "one"}
	two := Cluster{Target: "static:///" + b.Addr, Key: "two"}
	r, err := NewRouted(Config{
		Clusters: map[string]Cluster{"one": one, "two": two},
		Routes: []Route{
			{Prefix: echoService, Cluster: "one"},
			{Prefix: "/other.Svc/", Cluster: "two"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := balancertest.Serve(t, r.Serve, r.Close)
	c := echopb.NewEchoClient(dialRelay(t, addr))
	echo := func() (string, error) {
		resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		return resp.GetBackend(), err
	}
	if got, err := echo(); err != nil || got != a.Name {
		t.Fatalf("Echo before the reload reached %q (%v), want %s", got, err, a.Name)
	}
	s, _ := testbed.OpenStream(t, testbed.Context(t, 30*time.Second), c) // on cluster one
	oldOne := r.table.Load().byName["one"]

	moved := Config{
		Clusters: map[string]Cluster{"two": two},
		Routes:   []Route{{Prefix: echoService, Cluster: "two"}},
	}
	if err := r.Reload(moved); err != nil {
		t.Fatal(err)
	}
	if got, err := echo(); err != nil || got != b.Name {
		t.Fatalf("Echo after the reload reached %q (%v), want %s", got, err, b.Name)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	_, resp := testbed.OpenStream(t, ctx, c)
	cancel() // that stream is done with
	if resp.GetBackend() != b.Name {
		t.Fatalf("a stream opened after the reload reached %s, want %s", resp.GetBackend(), b.Name)
	}
	if oldOne.isClosed() {
		t.Fatal("cluster one was closed with a call still in flight on it")
	}
	if err := s.Send(&echopb.EchoRequest{Payload: []byte("after")}); err != nil {
		t.Fatalf("the stream opened before the reload: %v", err)
	}
	if resp, err := s.Recv(); err != nil || resp.GetBackend() != a.Name {
		t.Fatalf("the stream opened before the reload: %v %v, want an answer from %s", resp, err, a.Name)
	}
	s.CloseSend()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream's end: %v", err)
	}
	wait.For(t, 10*time.Second, "cluster one to close after its last call", oldOne.isClosed)

	keptTwo := r.table.Load().byName["two"]
	bad := moved
	bad.Routes = append([]Route{{Prefix: "/x.Svc/", Cluster: "nope"}}, moved.Routes...)
	before := r.table.Load()
	if err := r.Reload(bad); err == nil || r.table.Load() != before {
		t.Fatalf("Reload of a route to an undefined cluster: %v, want an error and the config in use kept", err)
	}
	changed := Config{
		Clusters: map[string]Cluster{"two": two, "three": {Target: "static:///" + a.Addr, Key: "three"}},
		Routes: []Route{
			{Prefix: echoService, Cluster: "two"},
			{Prefix: "/other.Svc/", Cluster: "three"},
		},
	}
	if err := r.Reload(changed); err != nil {
		t.Fatal(err)
	}
	if r.table.Load().byName["two"] != keptTwo || keptTwo.isClosed() {
		t.Fatal("cluster two, unchanged, was built anew")
	}
	if got, err := echo(); err != nil || got != b.Name {
		t.Fatalf("Echo after reloading an unchanged cluster reached %q (%v), want %s", got, err, b.Name)
	}
	two.Key = "two, changed"
	changed.Clusters["two"] = two
	if err := r.Reload(changed); err != nil {
		t.Fatal(err)
	}
	if r.table.Load().byName["two"] == keptTwo {
		t.Fatal("cluster two, its Key changed, was kept")
	}
	wait.For(t, 10*time.Second, "the replaced cluster two to close", keptTwo.isClosed)
	if got, err := echo(); err != nil || got != b.Name {
		t.Fatalf("Echo after rebuilding its cluster reached %q (%v), want %s", got, err, b.Name)
	}
}

// TestCancelBetweenAttempts: a call whose client cancels while it waits
// for its next attempt (a backoff of up to an hour) ends at once: counted
// out of its cluster and forgotten by its connection, with no further
// attempt.
func TestCancelBetweenAttempts(t *testing.T) {
	var attempts atomic.Int64
	backend := balancertest.ServeGRPC(t, grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		attempts.Add(1)
		return status.Error(codes.Unavailable, "failing on purpose")
	})))
	r, err := NewRouted(Config{
		Clusters: map[string]Cluster{"c": {Target: "static:///" + backend}},
		Routes:   []Route{{Prefix: "/test.Flaky/", Cluster: "c", Retry: &RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Hour, MaxBackoff: time.Hour}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := balancertest.Serve(t, r.Serve, r.Close)
	cc := dialRelay(t, addr)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- cc.Invoke(ctx, "/test.Flaky/Call", &echopb.EchoRequest{}, &echopb.EchoResponse{}) }()

	// The call is between attempts once its first failed and the relay let
	// that attempt go.
	var l *link
	wait.For(t, 10*time.Second, "the call to wait for its second attempt", func() bool {
		for _, c := range r.clientConns() {
			c.lmu.Lock()
			for _, cl := range c.live {
				l = cl
			}
			c.lmu.Unlock()
		}
		if l == nil {
			return false
		}
		l.wait.mu.Lock()
		defer l.wait.mu.Unlock()
		return attempts.Load() == 1 && !l.wait.connected && l.wait.whole
	})
	cancel()
	if err := <-result; status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled call: %v", err)
	}
	cl := r.table.Load().byName["c"]
	wait.Until(t, 10*time.Second, func() (bool, string) {
		live := 0
		for _, c := range r.clientConns() {
			c.lmu.Lock()
			live += len(c.live)
			c.lmu.Unlock()
		}
		return live == 0 && cl.calls.Load() == 0, fmt.Sprintf("%d calls live on the relay's connections, %d counted on the cluster", live, cl.calls.Load())
	})
	if n := attempts.Load(); n != 1 {
		t.Errorf("the backend saw %d attempts, want 1", n)
	}
}
