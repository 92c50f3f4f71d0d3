package proxy_test

import (
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// A backend that ages its connections out (grpc-go's MaxConnectionAge, as
// server.WithConnectionAge sets it) sends GOAWAY while a long stream
// still runs on the connection, and lets that stream finish (a grace of a
// minute). The calls that follow go to a new connection at once: none
// waits for the stream to end. On both data planes (the frame plane used
// to leave the subchannel READY on the connection that went away, so
// every call stalled until it closed).
func TestBackendConnectionAgeDoesNotStallCalls(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f, err := testbed.StartFleet(1, testbed.FleetConfig{ServerOptions: []grpc.ServerOption{
				grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 200 * time.Millisecond, MaxConnectionAgeGrace: time.Minute}),
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(f.Close)
			dp, addr := startPlane(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
			c := echopb.NewEchoClient(dial(t, addr))
			stream, _ := testbed.OpenStream(t, testbed.Context(t, time.Minute), c)

			// Calls for a second, each within 2s: the backend's
			// connections age out every 200ms meanwhile, the first one with
			// the stream on it.
			start, calls := time.Now(), 0
			for ; time.Since(start) < time.Second && calls < 100_000; calls++ {
				if _, err := c.Echo(testbed.Context(t, 2*time.Second), &echopb.EchoRequest{}); err != nil {
					t.Fatalf("call %d, %v after the stream opened: %v", calls, time.Since(start).Round(time.Millisecond), err)
				}
			}
			// The stream runs on a connection that went away: Clusters
			// (and /clusters) still counts it.
			if got := inFlight(dp); got != 1 {
				t.Errorf("in flight after the calls: %d; want 1, the stream on the aged-out connection", got)
			}
			if err := stream.Send(&echopb.EchoRequest{}); err != nil {
				t.Fatalf("the stream, after %d calls: %v", calls, err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("the stream, after %d calls: %v", calls, err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("the stream's end: %v", err)
			}
			wait.For(t, 5*time.Second, "no call in flight once the stream ended", func() bool { return inFlight(dp) == 0 })
		})
	}
}

// inFlight sums the calls in flight on every endpoint of dp's clusters.
func inFlight(dp dataPlane) int64 {
	var n int64
	for _, c := range dp.Clusters() {
		for _, e := range c.Endpoints {
			n += e.InFlight
		}
	}
	return n
}
