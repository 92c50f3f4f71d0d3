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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// queuedBytes is what the relay holds: data queued for peers that have
// no window, and data held for calls waiting for a backend.
func (r *Relay) queuedBytes() int64 {
	r.mu.Lock()
	conns := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	var n int64
	for _, c := range conns {
		c.mu.Lock()
		for _, h := range c.blocked {
			for _, it := range h.queue {
				n += int64(len(it.data))
			}
		}
		c.mu.Unlock()
	}
	for _, c := range r.clientConns() {
		c.lmu.Lock()
		links := make([]*link, 0, len(c.live))
		for _, l := range c.live {
			links = append(links, l)
		}
		c.lmu.Unlock()
		for _, l := range links {
			if w := l.wait; w != nil {
				w.mu.Lock()
				n += w.size
				w.mu.Unlock()
			}
		}
	}
	return n
}

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
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := echopb.NewEchoClient(cc)
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
		queued = r.queuedBytes()
		return queued > 0, fmt.Sprintf("the relay never queued: the test did not make the backend push back (first send error: %v)", sendErr.Load())
	})
	peak := queued
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		peak = max(peak, r.queuedBytes())
	}
	t.Logf("peak bytes queued in the relay: %d (ConnWindow %d); clients tried to send %d", peak, ConnWindow, 50*8*len(payload))
	if peak > ConnWindow {
		t.Errorf("the relay queued %d bytes for one client connection, over its window of %d", peak, ConnWindow)
	}
}
