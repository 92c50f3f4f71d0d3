package framerelay

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// stalled is a backend whose streams never read.
type stalled struct{ echopb.UnimplementedEchoServer }

func (stalled) EchoStream(s echopb.Echo_EchoStreamServer) error {
	<-s.Context().Done()
	return nil
}

// TestStalledBackendBoundsRelayMemory: 50 streams of one client
// connection send 4 MiB messages to a backend that never reads. The relay
// gives the client window back only for what it has written on, so it
// holds at most the connection window (ConnWindow) for that client
// (about 0.6 MB here: the backend's own windows take the rest),
// however much the client tries to send: flow control pushes back on the
// client instead of the relay buffering. What it holds for calls still
// waiting for a backend counts too.
func TestStalledBackendBoundsRelayMemory(t *testing.T) {
	s := grpc.NewServer()
	echopb.RegisterEchoServer(s, stalled{})
	backend := balancertest.ServeGRPC(t, s)
	r, err := New("static:///"+backend, `[{"round_robin":{}}]`)
	if err != nil {
		t.Fatal(err)
	}
	addr := balancertest.Serve(t, r.Serve, r.Close)
	c := echopb.NewEchoClient(dialRelay(t, addr, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20))))
	// The backend answers Echo UNIMPLEMENTED: once it has, the relay is
	// connected to it.
	if _, err := c.Echo(t.Context(), &echopb.EchoRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("warm-up call: %v, want the backend's Unimplemented", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	payload := bytes.Repeat([]byte{'x'}, 4<<20)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: unblocks the senders
	var sendErr atomic.Value
	for range 50 {
		st, err := c.EchoStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 8 { // blocks once the windows are used up; ends with the test's context
				if err := st.Send(&echopb.EchoRequest{Payload: payload}); err != nil {
					if ctx.Err() == nil {
						sendErr.CompareAndSwap(nil, err)
					}
					return
				}
			}
		})
	}
	// The relay starts queueing once the backend's windows are used up
	// (grpc-go's grow with its BDP estimate, so how soon varies); from
	// then on, watch the queue for 2 s: it fills up to the bound and stays.
	var queued int64
	wait.Until(t, 60*time.Second, func() (bool, string) {
		queued = r.heldBytes()
		return queued > 0, fmt.Sprintf("the relay never queued: the test did not make the backend push back (first send error: %v)", sendErr.Load())
	})
	peak := queued
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		peak = max(peak, r.heldBytes())
	}
	t.Logf("peak bytes queued in the relay: %d (ConnWindow %d); clients tried to send %d", peak, ConnWindow, 50*8*len(payload))
	if peak > ConnWindow {
		t.Errorf("the relay queued %d bytes for one client connection, over its window of %d", peak, ConnWindow)
	}
}

// TestBudgetBoundsTheRelay: 4 client connections × 16 streams push 1 MiB
// messages at a backend that never reads (and whose own windows are
// small, so the relay is the one left holding): 64 MiB wanted, a budget
// of 4 MiB. The relay holds at most the budget plus 64 KiB per
// connection, a new connection's call to a healthy backend goes through
// meanwhile on the free windows, and once the stuck calls are cancelled
// the same connections carry 2 MiB calls again: the data dropped with
// them gave their window back.
func TestBudgetBoundsTheRelay(t *testing.T) {
	const budget = 4 << 20
	small := []grpc.ServerOption{grpc.InitialWindowSize(64 << 10), grpc.InitialConnWindowSize(64 << 10)} // no BDP growth
	s := grpc.NewServer(small...)
	echopb.RegisterEchoServer(s, stalled{})
	stuck := balancertest.ServeGRPC(t, s)
	healthy, err := testbed.StartFleet(1, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	r, err := NewRouted(Config{
		Clusters: map[string]Cluster{"stuck": {Target: "static:///" + stuck}, "healthy": {Target: "static:///" + healthy.Addrs()[0]}},
		Routes: []Route{
			{Prefix: echopb.Echo_EchoStream_FullMethodName, Cluster: "stuck"},
			{Prefix: echopb.Echo_Echo_FullMethodName, Cluster: "healthy"},
		},
		Limits: Limits{MaxBufferedBytes: budget},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := balancertest.Serve(t, r.Serve, r.Close)
	client := func() echopb.EchoClient {
		return echopb.NewEchoClient(dialRelay(t, addr))
	}
	big := func(c echopb.EchoClient) error {
		_, err := c.Echo(testbed.Context(t, 20*time.Second), &echopb.EchoRequest{Payload: bytes.Repeat([]byte{'b'}, 2<<20)})
		return err
	}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: unblocks the senders
	payload := bytes.Repeat([]byte{'x'}, 1<<20)
	clients := make([]echopb.EchoClient, 4)
	for i := range clients {
		clients[i] = client()
		for range 16 {
			st, err := clients[i].EchoStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				for range 4 { // blocks once the windows are used up; ends with cancel
					if st.Send(&echopb.EchoRequest{Payload: payload}) != nil {
						return
					}
				}
			})
		}
	}
	wait.Until(t, 60*time.Second, func() (bool, string) {
		used := r.budget.Used()
		return used > budget*3/4, fmt.Sprintf("the budget never filled up: %d of %d lent", used, budget)
	})
	bound := int64(budget + 6*defaultWindow) // 4 clients, 2 backends
	var peak int64
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		peak = max(peak, r.heldBytes())
	}
	t.Logf("peak bytes queued in the relay: %d (budget %d, bound %d); clients tried to send %d", peak, budget, bound, 4*16*4*len(payload))
	if peak > bound {
		t.Fatalf("the relay held %d bytes, over its budget's bound of %d", peak, bound)
	}
	if err := big(client()); err != nil {
		t.Fatalf("a call on a new connection while the budget is spent: %v", err)
	}

	cancel()
	wg.Wait()
	for i, c := range clients {
		if err := big(c); err != nil {
			t.Fatalf("client %d, after its stuck calls were cancelled: %v (their dropped data kept its window?)", i, err)
		}
	}
}
