package proxy_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
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
			c := echopb.NewEchoClient(dial(t, startOn(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService))))
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
			if err := stream.Send(&echopb.EchoRequest{}); err != nil {
				t.Fatalf("the stream, after %d calls: %v", calls, err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("the stream, after %d calls: %v", calls, err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
