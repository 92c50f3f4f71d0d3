package framerelay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// deaf answers Echo only when released, ignoring its deadline, and
// reports when its call's context ends.
type deaf struct {
	echopb.UnimplementedEchoServer
	release chan struct{}
	ended   chan struct{}
	timeout chan time.Duration // the time its deadline gave it
}

func (d *deaf) Echo(ctx context.Context, _ *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	dl, _ := ctx.Deadline()
	d.timeout <- time.Until(dl)
	<-d.release
	<-ctx.Done()
	close(d.ended)
	return &echopb.EchoResponse{}, nil
}

func startTimeoutRelay(t *testing.T, target string, timeout time.Duration) echopb.EchoClient {
	t.Helper()
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"c": {Target: target}},
		Routes:   []framerelay.Route{{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "c", Timeout: timeout}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
}

// TestRouteTimeoutCapsBackendDeadline: the backend is sent the route's
// timeout as its deadline, not the client's later one, and the client
// gets DEADLINE_EXCEEDED when it passes, whichever of the relay and the
// backend (grpc-go, which resets the stream at its deadline) ends the
// call first.
func TestRouteTimeoutCapsBackendDeadline(t *testing.T) {
	d := &deaf{release: make(chan struct{}), ended: make(chan struct{}), timeout: make(chan time.Duration, 1)}
	s := grpc.NewServer()
	echopb.RegisterEchoServer(s, d)
	defer close(d.release)
	c := startTimeoutRelay(t, "static:///"+balancertest.ServeGRPC(t, s), 200*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{})
		errc <- err
	}()
	if got := <-d.timeout; got <= 0 || got > 200*time.Millisecond {
		t.Errorf("the backend's deadline was %v away, want at most the route's 200ms (not the client's 30 s)", got)
	}
	select {
	case err := <-errc:
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("a call the backend never answers: %v, want DEADLINE_EXCEEDED", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call outlived its route's 200 ms timeout by 20 s")
	}
	d.release <- struct{}{}
	select {
	case <-d.ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the backend's call was not cancelled")
	}
}

// TestRouteTimeoutEndsCalls: a backend that ignores deadlines (an HTTP/2
// server that sends response headers and then nothing) does not hold a
// call past its route's timeout: the relay ends it with DEADLINE_EXCEEDED
// and resets the backend's stream.
func TestRouteTimeoutEndsCalls(t *testing.T) {
	ended := make(chan struct{}, 1)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true) // HTTP/2 with prior knowledge, as gRPC speaks it
	srv := &http.Server{Protocols: &h2c, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the relay's reset
		ended <- struct{}{}
	})}
	backend := balancertest.Serve(t, srv.Serve, func() { srv.Close() })
	c := startTimeoutRelay(t, "static:///"+backend, 200*time.Millisecond)
	_, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(status.Convert(err).Message(), "route's timeout of 200ms") {
		t.Fatalf("a call its backend never ends: %v, want DEADLINE_EXCEEDED from the route's timeout", err)
	}
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the backend's stream was not reset")
	}
}

// TestRouteTimeoutWhileWaiting: a call whose cluster has no backend waits
// at most its route's timeout.
func TestRouteTimeoutWhileWaiting(t *testing.T) {
	mr := manual.NewBuilderWithScheme("framerelay-timeout-never")
	resolver.Register(mr)
	c := startTimeoutRelay(t, mr.Scheme()+":///never", 200*time.Millisecond)
	_, err := c.Echo(testbed.Context(t, 30*time.Second), &echopb.EchoRequest{})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(status.Convert(err).Message(), "route's timeout") {
		t.Fatalf("a call waiting for a backend past its route's timeout: %v, want DEADLINE_EXCEEDED from the route's timeout", err)
	}
}
