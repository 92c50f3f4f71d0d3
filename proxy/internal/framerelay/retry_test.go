package framerelay_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

const echoService = "/grpclb.testbed.v1.Echo/"

// startRetrying starts a relay whose one route, the Echo service,
// retries as p says over round_robin on addrs.
func startRetrying(t *testing.T, p framerelay.RetryPolicy, addrs ...string) echopb.EchoClient {
	t.Helper()
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"echo": {Target: balancertest.StaticTarget(addrs)}},
		Routes:   []framerelay.Route{{Prefix: echoService, Cluster: "echo", Retry: &p}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
}

// warmUp makes calls until every backend of f has served one: the
// policy has them all READY, so round_robin takes turns among them all.
func warmUp(t *testing.T, c echopb.EchoClient, f *testbed.Fleet) {
	t.Helper()
	wait.For(t, 10*time.Second, "every backend to serve a call", func() bool {
		if _, err := c.Echo(testbed.Context(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
		for _, b := range f.Backends() {
			if b.Served() == 0 {
				return false
			}
		}
		return true
	})
}

// TestRetriesReplayTheRequest: with one of two backends failing every
// call (UNAVAILABLE), every call of a retrying route succeeds: the ones
// round_robin gives the failing backend are sent again, their 300 KiB
// requests whole, to the other. 80 such calls on one connection carry
// 24 MiB, more than the connection's window: a retried call that kept
// its request's window would stall the connection.
func TestRetriesReplayTheRequest(t *testing.T) {
	f := startFleet(t, 2)
	bad, good := f.Backends()[0], f.Backends()[1]
	c := startRetrying(t, framerelay.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}, f.Addrs()...)
	warmUp(t, c, f)
	bad.SetErrorRate(1, codes.Unavailable)
	payload := bytes.Repeat([]byte{'r'}, 300<<10)
	for i := range 80 {
		resp, err := c.Echo(testbed.Context(t, 20*time.Second), &echopb.EchoRequest{Payload: payload})
		if err != nil || resp.GetBackend() != good.Name || !bytes.Equal(resp.GetPayload(), payload) {
			t.Fatalf("call %d: %v from %q (%d bytes), want the request echoed by %s", i, err, resp.GetBackend(), len(resp.GetPayload()), good.Name)
		}
	}
}

// TestRetriesGiveUp: a call that fails on every attempt gets the last
// attempt's status; one whose request is over the window the relay keeps
// is refused (RESOURCE_EXHAUSTED), and one that sends a second request
// message too (UNIMPLEMENTED), without reaching a backend.
func TestRetriesGiveUp(t *testing.T) {
	f := startFleet(t, 1)
	b := f.Backends()[0]
	b.SetErrorRate(1, codes.Unavailable)
	c := startRetrying(t, framerelay.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond}, f.Addrs()...)
	if _, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a call failing every attempt: %v, want UNAVAILABLE", err)
	}
	b.SetErrorRate(0, codes.OK)
	served := b.Served()
	_, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{Payload: make([]byte, framerelay.StreamWindow)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a request over the window: %v, want RESOURCE_EXHAUSTED", err)
	}
	s, err := c.EchoStream(testbed.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Send(&echopb.EchoRequest{}); err != nil {
			break // refused already
		}
	}
	s.CloseSend()
	if _, err := s.Recv(); status.Code(err) != codes.Unimplemented {
		t.Fatalf("two request messages: %v, want UNIMPLEMENTED", err)
	}
	if got := b.Served(); got != served {
		t.Errorf("the backend served %d calls the relay refused", got-served)
	}
	if _, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{Payload: []byte("ok")}); err != nil {
		t.Fatalf("a call after the refusals: %v", err)
	}
}

// TestRetriesOutliveABackend: calls in flight on a backend that dies (its
// connections reset before it answered) are sent again to the other
// backend, and every call succeeds.
func TestRetriesOutliveABackend(t *testing.T) {
	f := startFleet(t, 2)
	c := startRetrying(t, framerelay.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond}, f.Addrs()...)
	warmUp(t, c, f)
	outliveABackend(t, c, f.Backends()[0], f.Backends()[1])
}

// outliveABackend makes 6 calls while dying holds every call, kills it
// once some reached it, and wants every call answered by good.
func outliveABackend(t *testing.T, c echopb.EchoClient, dying, good *testbed.Backend) {
	t.Helper()
	dying.SetLatency(time.Minute) // holds its calls until it dies
	const calls = 6
	results := make(chan error, calls)
	for range calls {
		go func() {
			resp, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{Payload: []byte("x")})
			if err == nil && resp.GetBackend() != good.Name {
				err = fmt.Errorf("answered by %s", resp.GetBackend())
			}
			results <- err
		}()
	}
	wait.For(t, 10*time.Second, "calls to reach the backend that will die", func() bool { return dying.InFlight() > 0 })
	dying.Kill()
	for range calls {
		if err := <-results; err != nil {
			t.Errorf("a call: %v, want it answered by %s", err, good.Name)
		}
	}
}
