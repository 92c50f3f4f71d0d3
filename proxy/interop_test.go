package proxy_test

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/proxy"
	"github.com/grpclb/grpclb/proxy/internal/interoptest"
)

// TestInterop runs grpc-go's interop test cases (the ones of
// interop/client that need no cloud credentials, xDS or ORCA) against
// grpc-go's interop test server through the proxy: every call type,
// metadata and trailers, status codes and messages, deadlines,
// cancellation and unimplemented services and methods.
func TestInterop(t *testing.T) {
	backend := startInterop(t)
	_, addr := startProxy(t, oneCluster("passthrough:///"+backend, "grpc.testing.TestService", "grpc.testing.UnimplementedService"), proxy.Options{})
	interoptest.Run(t, func(testing.TB) *grpc.ClientConn { return dial(t, addr) })
}
