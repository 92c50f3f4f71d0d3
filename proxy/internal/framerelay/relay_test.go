package framerelay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	_ "github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// TestMain fails the run if a test leaves a goroutine behind, and turns
// grpc-go's fatal logs (how its interop cases report a failure) into
// panics that interopCase reports.
func TestMain(m *testing.M) {
	grpclog.SetLoggerV2(panicOnFatal{grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr)})
	goleak.VerifyTestMain(m)
}

type panicOnFatal struct{ grpclog.LoggerV2 }

type fatal string

func (panicOnFatal) Fatal(args ...any)                 { panic(fatal(fmt.Sprint(args...))) }
func (panicOnFatal) Fatalln(args ...any)               { panic(fatal(fmt.Sprintln(args...))) }
func (panicOnFatal) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }

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

func dial(t *testing.T, addr string) *grpc.ClientConn {
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
// with UNAVAILABLE naming the addresses.
func TestNoBackendIsUnavailable(t *testing.T) {
	addr := testbed.RefusingAddr(t)
	c := echopb.NewEchoClient(dial(t, startRelay(t, addr)))
	_, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
	if status.Code(err) != codes.Unavailable || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(addr)) {
		t.Fatalf("call with no backend: %v, want Unavailable naming %s", err, addr)
	}
}

// TestInterop runs grpc-go's interop cases through the relay, against
// grpc-go's interop server: every call type, metadata and trailers,
// status codes and messages, deadlines, cancellation, large messages.
func TestInterop(t *testing.T) {
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
	backend := balancertest.ServeGRPC(t, s)
	cc := dial(t, startRelay(t, backend))
	tc := testgrpc.NewTestServiceClient(cc)
	cases := []struct {
		name string
		run  func(context.Context, testgrpc.TestServiceClient, ...grpc.CallOption)
	}{
		{"empty_unary", interop.DoEmptyUnaryCall},
		{"large_unary", interop.DoLargeUnaryCall},
		{"client_streaming", interop.DoClientStreaming},
		{"server_streaming", interop.DoServerStreaming},
		{"ping_pong", interop.DoPingPong},
		{"empty_stream", interop.DoEmptyStream},
		{"timeout_on_sleeping_server", interop.DoTimeoutOnSleepingServer},
		{"cancel_after_begin", interop.DoCancelAfterBegin},
		{"cancel_after_first_response", interop.DoCancelAfterFirstResponse},
		{"custom_metadata", interop.DoCustomMetadata},
		{"status_code_and_message", interop.DoStatusCodeAndMessage},
		{"special_status_message", interop.DoSpecialStatusMessage},
	}
	for _, variant := range []struct {
		name string
		opts []grpc.CallOption
	}{{"identity", nil}, {"gzip", []grpc.CallOption{grpc.UseCompressor(gzip.Name)}}} {
		for _, c := range cases {
			t.Run(variant.name+"/"+c.name, func(t *testing.T) {
				interopCase(t, func(ctx context.Context) { c.run(ctx, tc, variant.opts...) })
			})
		}
	}
	t.Run("unimplemented_method", func(t *testing.T) {
		interopCase(t, func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, cc) })
	})
	t.Run("rpc_soak", func(t *testing.T) {
		cfg := interop.SoakTestConfig{
			RequestSize: 271828, ResponseSize: 314159,
			PerIterationMaxAcceptableLatency: 5 * time.Second, OverallTimeout: 30 * time.Second,
			NumWorkers: 2, Iterations: 20,
			ChannelForTest: func() (*grpc.ClientConn, func()) { return cc, func() {} },
		}
		interopCase(t, func(ctx context.Context) { interop.DoSoakTest(ctx, cfg) })
	})
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

func interopCase(t *testing.T, run func(context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			if msg, ok := r.(fatal); ok {
				t.Fatalf("interop case failed: %s", msg)
			}
			panic(r)
		}
	}()
	run(ctx)
}
