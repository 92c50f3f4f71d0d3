package framerelay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
	"github.com/grpclb/grpclb/proxy/internal/interoptest"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// TestMain fails the run if a test leaves a goroutine behind, and turns
// grpc-go's fatal logs (how its interop cases report a failure) into
// panics that interoptest reports.
func TestMain(m *testing.M) {
	interoptest.PanicOnFatal()
	goleak.VerifyTestMain(m)
}

// startRelay starts a relay to addrs, balanced by round_robin, and
// returns its address.
func startRelay(t *testing.T, addrs ...string) string {
	t.Helper()
	return startRelayWith(t, `[{"round_robin":{}}]`, addrs...)
}

func startRelayWith(t *testing.T, lbConfig string, addrs ...string) string {
	t.Helper()
	r, err := framerelay.New(balancertest.StaticTarget(addrs), lbConfig)
	if err != nil {
		t.Fatal(err)
	}
	return balancertest.Serve(t, r.Serve, r.Close)
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func startFleet(t *testing.T, n int) *testbed.Fleet {
	t.Helper()
	f, err := testbed.StartFleet(n, testbed.FleetConfig{ServerOptions: []grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// TestSpreadsCallsRoundRobin: once every backend is connected, the calls
// of one client connection go to every backend in turn (round_robin).
func TestSpreadsCallsRoundRobin(t *testing.T) {
	f := startFleet(t, 3)
	c := echopb.NewEchoClient(dial(t, startRelay(t, f.Addrs()...)))
	connectAll(t, c, 3)
	const calls = 300
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for w := range 10 { // 10 callers on the one connection
		wg.Go(func() {
			for range calls / 10 {
				resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{Payload: []byte{byte(w)}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				counts[resp.GetBackend()]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, b := range f.Backends() {
		if counts[b.Name] != calls/3 {
			t.Errorf("calls per backend %v, want %d each", counts, calls/3)
			break
		}
	}
}

// TestPolicySeesHowCallsEnd: the relay tells the policy when and how
// each call ended (Done), so p2c_ewma learns the backends' latencies and
// keeps most calls off the slow one.
func TestPolicySeesHowCallsEnd(t *testing.T) {
	f := startFleet(t, 3)
	slow := f.Backends()[2]
	slow.SetLatency(20 * time.Millisecond)
	c := echopb.NewEchoClient(dial(t, startRelayWith(t, `[{"p2c_ewma":{}}]`, f.Addrs()...)))
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	const calls = 600
	for range 4 {
		wg.Go(func() {
			for range calls / 4 {
				resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[resp.GetBackend()]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if share := float64(counts[slow.Name]) / calls; share > 0.15 {
		t.Errorf("the backend 20ms slower than the others got %.0f%% of the calls (%v), want at most 15%%", 100*share, counts)
	}
}

// TestPolicySeesHeaders: a policy that hashes a header (consistent_hash
// with hashHeader) sees the client's headers, so once every backend is
// READY, every call of one key goes to one backend and different keys
// reach more than one.
func TestPolicySeesHeaders(t *testing.T) {
	f := startFleet(t, 3)
	relay := startRelayWith(t, `[{"consistent_hash":{"hashHeader":"x-user","loadFactor":0}}]`, f.Addrs()...)
	c := echopb.NewEchoClient(dial(t, relay))
	connectAll(t, c, 3)           // calls without the header go to a random READY backend
	owners := map[string]string{} // key → backend
	for i := range 60 {
		key := fmt.Sprintf("user-%d", i%20)
		ctx := metadata.AppendToOutgoingContext(testbed.Context(t, 10*time.Second), "x-user", key)
		resp, err := c.Echo(ctx, &echopb.EchoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := owners[key]; ok && prev != resp.GetBackend() {
			t.Fatalf("key %s went to %s, then to %s", key, prev, resp.GetBackend())
		}
		owners[key] = resp.GetBackend()
	}
	backends := map[string]bool{}
	for _, b := range owners {
		backends[b] = true
	}
	if len(backends) < 2 {
		t.Fatalf("20 keys all went to %v: the policy did not see the header", backends)
	}
}

// TestAddressOnlyResolver: a resolver that publishes only Addresses
// (grpc-go's passthrough) gives the policy one endpoint per address, as
// grpc.ClientConn does.
func TestAddressOnlyResolver(t *testing.T) {
	f := startFleet(t, 1)
	r, err := framerelay.New("passthrough:///"+f.Addrs()[0], `[{"round_robin":{}}]`)
	if err != nil {
		t.Fatal(err)
	}
	c := echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
	if _, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{}); err != nil {
		t.Fatalf("a call through a passthrough target: %v", err)
	}
}

// TestLargeMessagesBothWays sends messages many times the windows of
// both connections each way: the relay must wait for window rather than
// overrun it (grpc-go ends a connection whose peer sends past its window)
// and deliver every byte in order.
func TestLargeMessagesBothWays(t *testing.T) {
	f := startFleet(t, 2)
	c := echopb.NewEchoClient(dial(t, startRelay(t, f.Addrs()...)))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			payload := bytes.Repeat([]byte{byte('a' + i)}, 8<<20+i)
			resp, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{Payload: payload})
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if !bytes.Equal(resp.GetPayload(), payload) {
				t.Errorf("call %d: payload of %d bytes came back as %d bytes, or changed", i, len(payload), len(resp.GetPayload()))
			}
		})
	}
	wg.Wait()
}

// TestClientCancelReachesBackend: a call the client cancels ends on the
// backend too.
func TestClientCancelReachesBackend(t *testing.T) {
	f := startFleet(t, 1)
	b := f.Backends()[0]
	c := echopb.NewEchoClient(dial(t, startRelay(t, f.Addrs()...)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Echo(ctx, &echopb.EchoRequest{DelayMs: 60_000})
		done <- err
	}()
	resolvertest.Eventually(t, 10*time.Second, "the call to reach the backend", func() bool { return b.InFlight() == 1 })
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v, want Canceled", err)
	}
	resolvertest.Eventually(t, 10*time.Second, "the backend to see the cancellation", func() bool { return b.InFlight() == 0 })
}

// TestBackendLossFailsItsCallsOnly: a backend killed with calls in flight
// fails those calls with UNAVAILABLE, at once; later calls go to the
// backends left.
func TestBackendLossFailsItsCallsOnly(t *testing.T) {
	f := startFleet(t, 2)
	b1, b2 := f.Backends()[0], f.Backends()[1]
	c := echopb.NewEchoClient(dial(t, startRelay(t, f.Addrs()...)))
	connectAll(t, c, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Echo(testbed.Context(t, time.Minute), &echopb.EchoRequest{DelayMs: 60_000})
			done <- err
		}()
	}
	resolvertest.Eventually(t, 10*time.Second, "a call on each backend", func() bool { return b1.InFlight() == 1 && b2.InFlight() == 1 })
	b2.Kill()
	if err := <-done; status.Code(err) != codes.Unavailable {
		t.Fatalf("call on the killed backend: %v, want Unavailable", err)
	}
	for range 10 {
		resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		if err != nil {
			t.Fatalf("call after the loss: %v", err)
		}
		if resp.GetBackend() != b1.Name {
			t.Fatalf("call after the loss answered by %s", resp.GetBackend())
		}
	}
	if b1.InFlight() != 1 {
		t.Fatalf("the call on the surviving backend ended too")
	}
}

// TestNoBackendIsUnavailable: with no backend reachable a call fails
// with UNAVAILABLE naming the cluster, not the backend addresses (the
// connection errors go to the log, once).
func TestNoBackendIsUnavailable(t *testing.T) {
	addr := testbed.RefusingAddr(t)
	var log testbed.SyncBuffer
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"c": {Target: "static:///" + addr}},
		Routes:   []framerelay.Route{{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "c"}},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
	for range 3 {
		_, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "framerelay: no healthy upstream for cluster c" {
			t.Fatalf("call with no backend: %v, want UNAVAILABLE: framerelay: no healthy upstream for cluster c", err)
		}
	}
	if n := strings.Count(log.String(), "no healthy upstream"); n != 1 || !strings.Contains(log.String(), addr) {
		t.Errorf("the log has %d lines about it, want 1 naming %s:\n%s", n, addr, log.String())
	}
}

// TestInterop runs grpc-go's interop cases through the relay, against
// grpc-go's interop server: every call type, metadata and trailers,
// status codes and messages, deadlines, cancellation, large messages.
func TestInterop(t *testing.T) {
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
	addr := startRelay(t, balancertest.ServeGRPC(t, s))
	interoptest.Run(t, func(tb testing.TB) *grpc.ClientConn { return dial(tb, addr) })
}

// connectAll calls until n backends have answered, so that round_robin's
// picker has them all.
func connectAll(t *testing.T, c echopb.EchoClient, n int) {
	t.Helper()
	seen := map[string]bool{}
	for i := 0; len(seen) < n; i++ {
		if i == 1000 {
			t.Fatalf("1000 calls reached only %v", seen)
		}
		resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen[resp.GetBackend()] = true
	}
}
