package proxy_test

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/proxy/internal/interoptest"
)

// TestInterop runs grpc-go's interop test cases (the ones of
// interop/client that need no cloud credentials, xDS or ORCA) against
// grpc-go's interop test server through the proxy: every call type,
// metadata and trailers, status codes and messages, deadlines,
// cancellation and unimplemented services and methods. On both data
// planes.
func TestInterop(t *testing.T) {
	backend := startInterop(t)
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			addr := startOn(t, plane, oneCluster("passthrough:///"+backend, "grpc.testing.TestService", "grpc.testing.UnimplementedService"))
			interoptest.Run(t, func(tb testing.TB) *grpc.ClientConn { return dial(tb, addr) })
		})
	}
}
