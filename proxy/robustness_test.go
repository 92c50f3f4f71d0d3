package proxy_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
	"github.com/grpclb/grpclb/proxy/internal/interoptest"
)

// load runs workers that call Echo back to back until stop is called, at
// most maxCalls calls in all and at most limit long, and counts successes
// per backend and failures per code.
type load struct {
	mu      sync.Mutex
	ok      map[string]int
	failed  map[codes.Code]int
	errs    []error
	calls   atomic.Int64
	stopped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startLoad(client echopb.EchoClient, workers int, maxCalls int64, limit time.Duration, req *echopb.EchoRequest) *load {
	l := &load{ok: map[string]int{}, failed: map[codes.Code]int{}, stopped: make(chan struct{})}
	deadline := time.Now().Add(limit)
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for l.calls.Add(1) <= maxCalls && time.Now().Before(deadline) {
				select {
				case <-l.stopped:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := client.Echo(ctx, req)
				cancel()
				l.mu.Lock()
				if err != nil {
					l.failed[status.Code(err)]++
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err)
					}
				} else {
					l.ok[r.GetBackend()]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// succeeded is the number of successful calls so far.
func (l *load) succeeded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sum(l.ok)
}

func (l *load) servedBy(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok[name]
}

func (l *load) stop() {
	l.once.Do(func() { close(l.stopped) })
	l.wg.Wait()
}

// failures is the number of failed calls so far.
func (l *load) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sum(l.failed)
}

// sum adds up the counts of m.
func sum[K comparable](m map[K]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// TestOversizeMessages: a request or a response above the limits fails
// that call with RESOURCE_EXHAUSTED; calls of other clients, and later
// calls of the same client, go on. On both data planes.
func TestOversizeMessages(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testOversizeMessages(t, plane) })
	}
}

func testOversizeMessages(t *testing.T, plane string) {
	const limit = 256 << 10
	f := startFleet(t, 2)
	cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
	cfg.Limits = proxy.Limits{MaxRequestBytes: limit, MaxResponseBytes: limit}
	addr := startOn(t, plane, cfg)
	client := echopb.NewEchoClient(dial(t, addr))
	other := startLoad(echopb.NewEchoClient(dial(t, addr)), 4, 100000, 30*time.Second, &echopb.EchoRequest{Payload: make([]byte, 1024)})
	defer other.stop()

	ctx := ctxTimeout(t, 20*time.Second)
	for _, tc := range []struct {
		name    string
		payload int
		want    codes.Code
	}{
		{"request within the limit", limit - 1024, codes.OK},
		{"request over the limit", limit + 1, codes.ResourceExhausted},
		{"request far over the limit", 4 * limit, codes.ResourceExhausted},
		// Echo's response is the payload plus the backend's name and
		// address: a request just under the limit gets a response over it.
		{"response over the limit", limit - 8, codes.ResourceExhausted},
		{"a later call", 10, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Echo(ctx, &echopb.EchoRequest{Payload: make([]byte, tc.payload)})
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
		t.Run(tc.name+" on a stream", func(t *testing.T) {
			s, err := client.EchoStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Send(&echopb.EchoRequest{Payload: make([]byte, tc.payload)})
			_, err = s.Recv()
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			_ = s.CloseSend()
		})
	}
	n := other.succeeded()
	wait.For(t, 10*time.Second, "the other client's calls go on", func() bool { return other.succeeded() > n+50 })
	other.stop()
	if fails := other.failures(); fails > 0 {
		t.Errorf("the other client had %d failures: %v", fails, other.errs)
	}
}

// TestLargeMessagesWithinDefaultLimits: messages of several HTTP/2
// frames and flow-control windows, under the default 4 MiB limits, go
// through both ways, on unary calls and streams. On both data planes.
func TestLargeMessagesWithinDefaultLimits(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testLargeMessagesWithinDefaultLimits(t, plane) })
	}
}

func testLargeMessagesWithinDefaultLimits(t *testing.T, plane string) {
	f := startFleet(t, 2)
	client := echopb.NewEchoClient(dial(t, startOn(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService))))
	ctx := ctxTimeout(t, 20*time.Second)
	payload := bytes.Repeat([]byte("0123456789abcdef"), (3<<20+512<<10)/16) // 3.5 MiB
	r, err := client.Echo(ctx, &echopb.EchoRequest{Payload: payload})
	if err != nil || !bytes.Equal(r.GetPayload(), payload) {
		t.Fatalf("unary 3.5 MiB: %v", err)
	}
	s, err := client.EchoStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Send(&echopb.EchoRequest{Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Recv(); err != nil || !bytes.Equal(r.GetPayload(), payload) {
			t.Fatalf("stream message %d of 3.5 MiB: %v", i, err)
		}
	}
	_ = s.CloseSend()
}

// TestConnectionLimits: a connection gets at most MaxConcurrentStreams
// calls in flight (more wait for a slot, other connections do not), and a
// request header list over MaxHeaderListBytes is refused. On both data
// planes.
func TestConnectionLimits(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			_, addr := startProbe(t)
			cfg := oneCluster("passthrough:///"+addr, probeService)
			cfg.Limits = proxy.Limits{MaxConcurrentStreams: 2, MaxHeaderListBytes: 8 << 10}
			paddr := startOn(t, plane, cfg)
			cc, other := dial(t, paddr), dial(t, paddr)

			hangCtx, stopHanging := context.WithCancel(context.Background())
			defer stopHanging()
			for range 2 {
				s, err := cc.NewStream(hangCtx, bidi, "/probe.Probe/Hang")
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SendMsg(wrapperspb.String("x")); err != nil {
					t.Fatal(err)
				}
			}
			echo := func(cc *grpc.ClientConn, timeout time.Duration, opts ...grpc.CallOption) error {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				return cc.Invoke(ctx, "/probe.Probe/Echo", wrapperspb.String("x"), &wrapperspb.StringValue{}, opts...)
			}
			if err := echo(cc, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("a third call on a connection limited to 2: %v, want DEADLINE_EXCEEDED (it waits for a slot)", err)
			}
			if err := echo(other, 5*time.Second); err != nil {
				t.Fatalf("a call on another connection: %v", err)
			}
			stopHanging()
			wait.For(t, 5*time.Second, "a slot frees once a call ends", func() bool { return echo(cc, time.Second) == nil })

			big := metadata.AppendToOutgoingContext(context.Background(), "x-big", strings.Repeat("a", 16<<10))
			ctx, cancel := context.WithTimeout(big, 5*time.Second)
			defer cancel()
			if err := cc.Invoke(ctx, "/probe.Probe/Echo", wrapperspb.String("x"), &wrapperspb.StringValue{}); err == nil {
				t.Error("a 16 KiB header list passed an 8 KiB limit")
			}
			if err := echo(cc, 5*time.Second); err != nil {
				t.Errorf("a call after the refused one: %v", err)
			}
		})
	}
}

// TestStalledReaderDoesNotBlockOthers: a client that asks for a large
// server stream and never reads it fills its own stream's flow-control
// window (and, through the proxy, the upstream stream's) and nothing else:
// calls on the same connection, on another connection and to the same
// upstream connection all go on. On both data planes.
func TestStalledReaderDoesNotBlockOthers(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			backend := startInterop(t)
			addr := startOn(t, plane, oneCluster("passthrough:///"+backend, "grpc.testing.TestService"))
			stalledConn := dial(t, addr)
			stalled := testgrpc.NewTestServiceClient(stalledConn)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			params := make([]*testgrpc.ResponseParameters, 400)
			for i := range params {
				params[i] = &testgrpc.ResponseParameters{Size: 64 << 10} // 25 MiB in all, far above any window
			}
			stream, err := stalled.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params})
			if err != nil {
				t.Fatal(err)
			}
			// Read one message, so the stream is surely flowing, then stop reading.
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}

			for _, c := range []struct {
				name string
				tc   testgrpc.TestServiceClient
			}{
				{"same connection", stalled},
				{"other connection", testgrpc.NewTestServiceClient(dial(t, addr))},
			} {
				t.Run(c.name, func(t *testing.T) {
					for i := range 100 {
						cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
						_, err := c.tc.UnaryCall(cctx, &testgrpc.SimpleRequest{ResponseSize: 32 << 10, Payload: &testgrpc.Payload{Body: make([]byte, 32<<10)}})
						ccancel()
						if err != nil {
							t.Fatalf("call %d while a stream is stalled: %v", i, err)
						}
					}
					interoptest.Case(t, func(ctx context.Context) { interop.DoServerStreaming(ctx, c.tc) })
					interoptest.Case(t, func(ctx context.Context) { interop.DoPingPong(ctx, c.tc) })
				})
			}
			// The stalled stream is still intact: it delivers everything once read.
			for i := 1; i < len(params); i++ {
				r, err := stream.Recv()
				if err != nil || len(r.GetPayload().GetBody()) != 64<<10 {
					t.Fatalf("stalled stream, message %d: %v", i, err)
				}
			}
		})
	}
}

// TestBackendKilledUnderLoad: killing a backend (connections reset) fails
// at most the calls in flight on it; the others, and every call after,
// succeed on the remaining backends. On both data planes.
func TestBackendKilledUnderLoad(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 3)
			client := echopb.NewEchoClient(dial(t, startOn(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService))))
			warmUp(t, client, f)
			const workers = 8
			l := startLoad(client, workers, 200000, 60*time.Second, &echopb.EchoRequest{DelayMs: 2})
			defer l.stop()
			wait.For(t, 20*time.Second, "load reaches every backend", func() bool { return l.servedBy("b1") > 50 && l.servedBy("b2") > 50 })

			victim := f.Backends()[0]
			inFlight := victim.InFlight()
			victim.Kill()
			n := l.succeeded()
			wait.For(t, 20*time.Second, "500 more calls succeed after the kill", func() bool { return l.succeeded() > n+500 })
			failedAtKill := l.failures()
			m := l.succeeded()
			wait.For(t, 20*time.Second, "500 more calls", func() bool { return l.succeeded() > m+500 })
			l.stop()

			// At most one call per worker can be in flight on the victim.
			if failedAtKill > workers {
				t.Errorf("%d calls failed when the backend was killed with %d in flight (workers %d): %v", failedAtKill, inFlight, workers, l.errs)
			}
			if later := l.failures() - failedAtKill; later > 0 {
				t.Errorf("%d calls failed after the kill was noticed: %v", later, l.errs)
			}
			for c := range l.failed {
				if c != codes.Unavailable {
					t.Errorf("a call failed with %v, want only UNAVAILABLE", c)
				}
			}
			t.Logf("killed %s with %d calls in flight: %d failed, %d succeeded", victim.Name, inFlight, l.failures(), l.succeeded())
		})
	}
}

// TestReloadUnderLoadFailsNone: reloads that move a route between
// clusters, change a cluster's policy (a new ClientConn) and keep others
// (the same ClientConn) while calls and streams are in flight fail no
// call, and streams opened before a reload keep working after it.
func TestReloadUnderLoadFailsNone(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 4)
			addrs := f.Addrs()
			cfgs := []*proxy.Config{
				{
					Routes:   []proxy.Route{{Service: echoService, Cluster: "a"}},
					Clusters: map[string]*proxy.Cluster{"a": {Target: staticTarget(addrs[0], addrs[1])}, "b": {Target: staticTarget(addrs[2], addrs[3])}},
				},
				{
					Routes:   []proxy.Route{{Service: echoService, Cluster: "b"}},
					Clusters: map[string]*proxy.Cluster{"a": {Target: staticTarget(addrs[0], addrs[1])}, "b": {Target: staticTarget(addrs[2], addrs[3])}},
				},
				{
					Routes:   []proxy.Route{{Service: echoService, Cluster: "a"}},
					Clusters: map[string]*proxy.Cluster{"a": {Target: staticTarget(addrs[1], addrs[2]), Policy: `{"loadBalancingConfig":[{"pick_first":{}}]}`}},
				},
			}
			p, addr := startPlane(t, plane, cfgs[0], proxy.Options{})
			cc := dial(t, addr)
			client := echopb.NewEchoClient(cc)
			l := startLoad(client, 8, 1000000, 60*time.Second, &echopb.EchoRequest{DelayMs: 1})
			defer l.stop()

			streamCtx, cancelStreams := context.WithCancel(context.Background())
			defer cancelStreams()
			var streams []echopb.Echo_EchoStreamClient
			for i := range 12 {
				s, err := client.EchoStream(streamCtx)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Send(&echopb.EchoRequest{}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Recv(); err != nil {
					t.Fatalf("stream %d: %v", i, err)
				}
				streams = append(streams, s)
				n := l.succeeded()
				wait.For(t, 10*time.Second, "calls go on", func() bool { return l.succeeded() > n+30 })
				if err := p.Reload(cfgs[(i+1)%len(cfgs)]); err != nil {
					t.Fatalf("reload %d: %v", i, err)
				}
			}
			n := l.succeeded()
			wait.For(t, 10*time.Second, "calls go on after the last reload", func() bool { return l.succeeded() > n+100 })
			l.stop()
			if fails := l.failures(); fails > 0 {
				t.Errorf("%d calls failed during reloads: %v (codes %v)", fails, l.errs, l.failed)
			}
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				if l.servedBy(b) == 0 {
					t.Errorf("backend %s got no call: the reloads did not move traffic (%v)", b, l.ok)
				}
			}
			// Streams opened under every config still work: they stayed on the
			// ClientConn they started on.
			for i, s := range streams {
				if err := s.Send(&echopb.EchoRequest{Payload: []byte("after")}); err != nil {
					t.Fatalf("stream %d after the reloads: %v", i, err)
				}
				if r, err := s.Recv(); err != nil || string(r.GetPayload()) != "after" {
					t.Fatalf("stream %d after the reloads: %v", i, err)
				}
				if err := s.CloseSend(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReloadRejectsBadConfigAndKeepsOld(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			p, addr := startPlane(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
			client := echopb.NewEchoClient(dial(t, addr))
			bad := oneCluster(staticTarget(f.Addrs()...), echoService)
			bad.Routes[0].Cluster = "nope"
			if err := p.Reload(bad); err == nil {
				t.Fatal("Reload accepted a route to an undefined cluster")
			}
			if _, err := client.Echo(ctxTimeout(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
				t.Fatalf("after a rejected reload: %v", err)
			}
		})
	}
}

// TestDrain: health turns NOT_SERVING and /readyz 503, calls in flight
// finish, new connections are refused, and Drain returns once done. On
// both data planes.
func TestDrain(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 2)
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Drain = proxy.DrainConfig{Grace: proxy.Duration(300 * time.Millisecond), Timeout: proxy.Duration(20 * time.Second)}
			p, addr := startPlane(t, plane, cfg, proxy.Options{})
			cc := dial(t, addr)
			client := echopb.NewEchoClient(cc)
			health := healthpb.NewHealthClient(cc)
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()

			ctx := ctxTimeout(t, 30*time.Second)
			// Ready once the cluster has a READY endpoint.
			wait.For(t, 10*time.Second, "/readyz 200 before the drain", func() bool { return httpGet(t, admin.URL+"/readyz") == http.StatusOK })
			watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health before the drain: %v %v", r, err)
			}

			const slow = 3
			results := make(chan error, slow)
			for range slow {
				go func() {
					_, err := client.Echo(ctx, &echopb.EchoRequest{DelayMs: 1500})
					results <- err
				}()
			}
			wait.For(t, 5*time.Second, "the slow calls reach the backends", func() bool {
				return f.Backends()[0].InFlight()+f.Backends()[1].InFlight() == slow
			})
			drained := make(chan error, 1)
			go func() { drained <- p.Drain(context.Background()) }()

			if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Fatalf("health during the drain: %v %v", r, err)
			}
			if code := httpGet(t, admin.URL+"/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("/readyz = %d during the drain, want 503", code)
			}
			wait.For(t, 10*time.Second, "new connections are refused", func() bool {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					return true
				}
				c.Close()
				return false
			})
			for range slow {
				if err := <-results; err != nil {
					t.Errorf("a call in flight failed during the drain: %v", err)
				}
			}
			if err := <-drained; err != nil {
				t.Errorf("Drain: %v", err)
			}
			if code := httpGet(t, admin.URL+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d after the drain, want 200 (the process runs)", code)
			}
		})
	}
}
