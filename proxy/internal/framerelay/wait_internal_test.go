package framerelay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// startWaitRelay starts a relay that sends Echo calls to the cluster of
// the manual resolver later, which has no backends until the test gives
// it some, and EchoStream calls to now, a running backend.
func startWaitRelay(t *testing.T, now string, later *manual.Resolver) (*Relay, echopb.EchoClient) {
	t.Helper()
	resolver.Register(later)
	r, err := NewRouted(Config{
		Clusters: map[string]Cluster{
			"now":   {Target: "static:///" + now},
			"later": {Target: later.Scheme() + ":///later"},
		},
		Routes: []Route{
			{Prefix: echopb.Echo_Echo_FullMethodName, Cluster: "later"},
			{Prefix: echopb.Echo_EchoStream_FullMethodName, Cluster: "now"}, // longer: wins for EchoStream
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := balancertest.Serve(t, r.Serve, r.Close)
	return r, echopb.NewEchoClient(dialRelay(t, addr))
}

// streamRoundTrip makes one EchoStream call of one message each way.
func streamRoundTrip(t *testing.T, c echopb.EchoClient) string {
	t.Helper()
	s, resp := testbed.OpenStream(t, testbed.Context(t, 5*time.Second), c)
	s.CloseSend()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}
	return resp.GetBackend()
}

type echoResult struct {
	resp *echopb.EchoResponse
	err  error
}

// TestWaitingCallDoesNotHoldItsConnection: a call whose cluster has no
// backend yet waits off its client connection's read loop, so the
// connection's other calls go on meanwhile; the request it sent while
// waiting is held and delivered whole once a backend appears.
func TestWaitingCallDoesNotHoldItsConnection(t *testing.T) {
	fleet, err := testbed.StartFleet(2, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	later := manual.NewBuilderWithScheme("framerelay-wait-later")
	r, c := startWaitRelay(t, fleet.Addrs()[0], later)
	streamRoundTrip(t, c) // "now" is connected

	payload := bytes.Repeat([]byte{'w'}, 300<<10) // many DATA frames, all held
	result := make(chan echoResult, 1)
	go func() {
		resp, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{Payload: payload})
		result <- echoResult{resp, err}
	}()
	wait.For(t, 10*time.Second, "the Echo call to wait for a backend", func() bool { return r.waiting.Load() == 1 })
	for range 20 {
		if b := streamRoundTrip(t, c); b != fleet.Backends()[0].Name {
			t.Fatalf("EchoStream reached %s, want %s", b, fleet.Backends()[0].Name)
		}
	}
	select {
	case res := <-result:
		t.Fatalf("the waiting call ended before its cluster had a backend: %v", res.err)
	default:
	}

	later.UpdateState(resolver.State{Endpoints: balancertest.EndpointsOf(fleet.Addrs()[1])})
	select {
	case res := <-result:
		if res.err != nil {
			t.Fatalf("the waiting call, once its backend appeared: %v", res.err)
		}
		if res.resp.GetBackend() != fleet.Backends()[1].Name || !bytes.Equal(res.resp.GetPayload(), payload) {
			t.Fatalf("the waiting call reached %s with %d bytes back, want %s and its %d bytes",
				res.resp.GetBackend(), len(res.resp.GetPayload()), fleet.Backends()[1].Name, len(payload))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting call did not end within 20 s of its backend appearing")
	}
	wait.For(t, 10*time.Second, "no call waiting", func() bool { return r.waiting.Load() == 0 })
}

// TestWaitingCallEndsWithItsClient: a client that gives up on a waiting
// call (its deadline) gets DEADLINE_EXCEEDED, and the relay stops waiting
// for it; the connection goes on serving.
func TestWaitingCallEndsWithItsClient(t *testing.T) {
	fleet, err := testbed.StartFleet(1, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	r, c := startWaitRelay(t, fleet.Addrs()[0], manual.NewBuilderWithScheme("framerelay-wait-never"))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Echo(ctx, &echopb.EchoRequest{Payload: []byte("x")})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a call to a cluster with no backend, 300 ms deadline: %v, want DeadlineExceeded", err)
	}
	wait.For(t, 10*time.Second, "the relay to stop waiting", func() bool { return r.waiting.Load() == 0 })
	streamRoundTrip(t, c)
}

// TestGivingUpReturnsHeldWindow: calls that give up waiting (their
// clients cancel them) give back the connection window their held
// request data took, so the connection does not run out of window: after
// 24 cancelled calls that each held 900 KiB (over the 16 MiB connection
// window in all), a call with 1 MiB of request data still goes through.
func TestGivingUpReturnsHeldWindow(t *testing.T) {
	fleet, err := testbed.StartFleet(1, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	r, c := startWaitRelay(t, fleet.Addrs()[0], manual.NewBuilderWithScheme("framerelay-giveup-never"))
	payload := bytes.Repeat([]byte{'h'}, 900<<10)
	for i := range 24 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := c.Echo(ctx, &echopb.EchoRequest{Payload: payload})
			done <- err
		}()
		wait.For(t, 10*time.Second, fmt.Sprintf("call %d to wait for a backend", i), func() bool { return r.waiting.Load() == 1 })
		cancel()
		<-done
		wait.For(t, 10*time.Second, fmt.Sprintf("call %d to stop waiting", i), func() bool { return r.waiting.Load() == 0 })
	}
	s, err := c.EchoStream(testbed.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&echopb.EchoRequest{Payload: bytes.Repeat([]byte{'x'}, 1<<20)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("a call after 24 cancelled waiting calls: %v (the connection ran out of window?)", err)
	}
}
