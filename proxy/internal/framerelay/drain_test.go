package framerelay_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

func startRoutedEcho(t *testing.T) (*framerelay.Relay, string) {
	t.Helper()
	f := startFleet(t, 1)
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"echo": {Target: balancertest.StaticTarget(f.Addrs())}},
		Routes:   []framerelay.Route{{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "echo"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, balancertest.Serve(t, r.Serve, r.Close)
}

// TestDrain: Drain turns health NOT_SERVING, then stops taking
// connections and calls while the calls in flight go on, and returns
// once they have ended.
func TestDrain(t *testing.T) {
	r, addr := startRoutedEcho(t)
	cc := dial(t, addr)
	c := echopb.NewEchoClient(cc)
	s, _ := testbed.OpenStream(t, testbed.Context(t, 30*time.Second), c)
	watch, err := healthpb.NewHealthClient(cc).Watch(testbed.Context(t, 30*time.Second), &healthpb.HealthCheckRequest{Service: "grpclb.testbed.v1.Echo"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}

	drained := make(chan error, 1)
	go func() { drained <- r.Drain(t.Context(), 100*time.Millisecond) }()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health once draining: %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	wait.For(t, 10*time.Second, "the listener to close", func() bool {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	if _, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{}); err == nil {
		t.Fatal("a new call succeeded after the drain's GOAWAY")
	}
	// The call in flight goes on, and holds the drain.
	if err := s.Send(&echopb.EchoRequest{}); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) with a call in flight", err)
	default:
	}
	s.CloseSend()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the call in flight ended with %v, want its end", err)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return within 10 s of the last call ending")
	}
}

// TestDrainTimeout: a call that outlives the drain's context is cut, and
// Drain says why it returned.
func TestDrainTimeout(t *testing.T) {
	r, addr := startRoutedEcho(t)
	c := echopb.NewEchoClient(dial(t, addr))
	s, _ := testbed.OpenStream(t, testbed.Context(t, 30*time.Second), c)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := r.Drain(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a call outliving it: %v, want DeadlineExceeded", err)
	}
	if _, err := s.Recv(); err == nil {
		t.Fatal("the call outliving the drain was not cut")
	}
}
