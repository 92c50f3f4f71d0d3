// Package interoptest runs grpc-go's interop test cases against anything
// that forwards gRPC calls (grpclb proxy, the frame relay), so every data
// plane is checked by the same client code that checks grpc-go itself.
//
// grpc-go's interop cases report a failure with grpclog's Fatal functions,
// which exit the process. A test binary that uses Run installs
// PanicOnFatal in its TestMain, so that a failing case panics instead and
// Run reports it as that case's failure.
package interoptest

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// PanicOnFatal makes grpclog's Fatal functions panic with a value Run
// recognises, and discards grpc-go's info and warning logs. Call it from
// TestMain, before any test runs.
func PanicOnFatal() {
	grpclog.SetLoggerV2(panicOnFatal{grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr)})
}

// panicOnFatal is a grpclog.LoggerV2 whose Fatal functions panic.
type panicOnFatal struct{ grpclog.LoggerV2 }

// fatal is the panic value of panicOnFatal.
type fatal string

func (panicOnFatal) Fatal(args ...any)                 { panic(fatal(fmt.Sprint(args...))) }
func (panicOnFatal) Fatalln(args ...any)               { panic(fatal(fmt.Sprintln(args...))) }
func (panicOnFatal) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }

// Run runs the interop cases that need no cloud credentials, xDS or ORCA,
// plaintext and with gzip, on client connections made by connect: every
// call type, metadata and trailers, status codes and messages, deadlines,
// cancellation, unimplemented services and methods, and both soak tests.
// The server behind connect must serve grpc.testing.TestService (grpc-go's
// interop.NewTestServer) and must not serve grpc.testing.UnimplementedService.
func Run(t *testing.T, connect func(testing.TB) *grpc.ClientConn) {
	cc := connect(t)
	tc := testgrpc.NewTestServiceClient(cc)
	streaming := []struct {
		name string
		run  func(context.Context, testgrpc.TestServiceClient, ...grpc.CallOption)
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
				Case(t, func(ctx context.Context) { c.run(ctx, tc, variant.opts...) })
			})
		}
	}
	t.Run("unimplemented_service", func(t *testing.T) {
		Case(t, func(ctx context.Context) {
			interop.DoUnimplementedService(ctx, testgrpc.NewUnimplementedServiceClient(cc))
		})
	})
	t.Run("unimplemented_method", func(t *testing.T) {
		Case(t, func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, cc) })
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
		Case(t, func(ctx context.Context) { interop.DoSoakTest(ctx, cfg) })
	})
	t.Run("channel_soak", func(t *testing.T) {
		cfg := soak
		cfg.ChannelForTest = func() (*grpc.ClientConn, func()) {
			c := connect(t)
			return c, func() { c.Close() }
		}
		Case(t, func(ctx context.Context) { interop.DoSoakTest(ctx, cfg) })
	})
	// pick_first_unary needs a server that fills server_id (xDS test
	// servers); orca_* need an ORCA-reporting server and policy; the
	// *_creds cases need Google credentials. None is about forwarding.
}

// Case runs one interop case with a 30 s deadline and reports the panic of
// a failed case (see PanicOnFatal) as the test's failure.
func Case(t *testing.T, run func(context.Context)) {
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
