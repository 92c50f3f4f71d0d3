package proxy_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/grpclb/grpclb/proxy"
)

// TestInterop runs grpc-go's interop test cases (the ones of
// interop/client that need no cloud credentials, xDS or ORCA) against
// grpc-go's interop test server through the proxy: every call type,
// metadata and trailers, status codes and messages, deadlines,
// cancellation and unimplemented services and methods.
func TestInterop(t *testing.T) {
	backend := startInterop(t)
	_, addr := startProxy(t, oneCluster("passthrough:///"+backend, "grpc.testing.TestService", "grpc.testing.UnimplementedService"), proxy.Options{})
	runInterop(t, func(testing.TB) *grpc.ClientConn { return dial(t, addr) })
}

// runInterop runs the interop cases, plaintext and with gzip, on clients
// connected to the proxy by connect.
func runInterop(t *testing.T, connect func(testing.TB) *grpc.ClientConn) {
	cc := connect(t)
	tc := testgrpc.NewTestServiceClient(cc)
	type tcCase = func(context.Context, testgrpc.TestServiceClient, ...grpc.CallOption)
	streaming := []struct {
		name string
		run  tcCase
	}{
		{"empty_unary", interop.DoEmptyUnaryCall},
		{"large_unary", interop.DoLargeUnaryCall},
		{"client_streaming", interop.DoClientStreaming},
		{"server_streaming", interop.DoServerStreaming},
		{"ping_pong", interop.DoPingPong},
		{"empty_stream", interop.DoEmptyStream},
		{"timeout_on_sleeping_server", interop.DoTimeoutOnSleepingServer},
		{"cancel_after_begin", interop.DoCancelAfterBegin},
		{"cancel_after_first_response", interop.DoCancelAfterFirstResponse},
		{"custom_metadata", interop.DoCustomMetadata},
		{"status_code_and_message", interop.DoStatusCodeAndMessage},
		{"special_status_message", interop.DoSpecialStatusMessage},
	}
	for _, variant := range []struct {
		name string
		opts []grpc.CallOption
	}{
		{"identity", nil},
		{"gzip", []grpc.CallOption{grpc.UseCompressor(gzip.Name)}},
	} {
		for _, c := range streaming {
			t.Run(variant.name+"/"+c.name, func(t *testing.T) {
				interopCase(t, func(ctx context.Context) { c.run(ctx, tc, variant.opts...) })
			})
		}
	}
	t.Run("unimplemented_service", func(t *testing.T) {
		interopCase(t, func(ctx context.Context) {
			interop.DoUnimplementedService(ctx, testgrpc.NewUnimplementedServiceClient(cc))
		})
	})
	t.Run("unimplemented_method", func(t *testing.T) {
		interopCase(t, func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, cc) })
	})
	soak := interop.SoakTestConfig{
		RequestSize:                      271828,
		ResponseSize:                     314159,
		PerIterationMaxAcceptableLatency: 5 * time.Second,
		OverallTimeout:                   30 * time.Second,
		NumWorkers:                       2,
		Iterations:                       20,
		MaxFailures:                      0,
	}
	t.Run("rpc_soak", func(t *testing.T) {
		cfg := soak
		cfg.ChannelForTest = func() (*grpc.ClientConn, func()) { return cc, func() {} }
		interopCase(t, func(ctx context.Context) { interop.DoSoakTest(ctx, cfg) })
	})
	t.Run("channel_soak", func(t *testing.T) {
		cfg := soak
		cfg.ChannelForTest = func() (*grpc.ClientConn, func()) {
			c := connect(t)
			return c, func() { c.Close() }
		}
		interopCase(t, func(ctx context.Context) { interop.DoSoakTest(ctx, cfg) })
	})
	// pick_first_unary needs a server that fills server_id (xDS test
	// servers); orca_* need an ORCA-reporting server and policy; the
	// *_creds cases need Google credentials. None is about the proxy.
}

// interopCase runs one case with a deadline; grpc-go reports failures with
// logger.Fatalf, which TestMain turned into a panic.
func interopCase(t *testing.T, run func(context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			if msg, ok := r.(fatal); ok {
				t.Fatalf("interop case failed: %s", msg)
			}
			panic(r)
		}
	}()
	run(ctx)
}
