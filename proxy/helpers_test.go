package proxy_test

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy"
)

// fastBackoff makes clients reconnect to restarted servers quickly.
var fastBackoff = balancertest.FastReconnect

// startProxy starts a proxy on 127.0.0.1 and returns it and its address;
// it is stopped when the test ends.
func startProxy(t testing.TB, cfg *proxy.Config, opts proxy.Options) (*proxy.Proxy, string) {
	t.Helper()
	opts.DialOptions = append([]grpc.DialOption{fastBackoff}, opts.DialOptions...)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := proxy.New(cfg, opts)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	return p, balancertest.Serve(t, p.Serve, p.Stop)
}

// dataPlanes are grpclb proxy's data planes, for tests that run on both.
var dataPlanes = []string{"grpc", "frames"}

// startOn starts cfg on a data plane and returns its address.
func startOn(t testing.TB, plane string, cfg *proxy.Config) string {
	t.Helper()
	return startOnWith(t, plane, cfg, proxy.Options{})
}

// startOnWith is startOn with opts.
func startOnWith(t testing.TB, plane string, cfg *proxy.Config, opts proxy.Options) string {
	t.Helper()
	if plane == "frames" {
		_, addr := startFramesWith(t, cfg, opts)
		return addr
	}
	_, addr := startProxy(t, cfg, opts)
	return addr
}

// startAdminOn is startOn, with the proxy's admin handler.
func startAdminOn(t testing.TB, plane string, cfg *proxy.Config) (dataPlane, string) {
	t.Helper()
	return startPlane(t, plane, cfg, proxy.Options{})
}

// dataPlane is what tests use of either data plane besides its listener.
type dataPlane interface {
	AdminHandler() http.Handler
	Reload(*proxy.Config) error
	Config() proxy.Config
	Drain(context.Context) error
	Clusters() []proxy.ClusterStatus
	Stop()
}

// startPlane starts cfg with opts on a data plane and returns it and its
// address.
func startPlane(t testing.TB, plane string, cfg *proxy.Config, opts proxy.Options) (dataPlane, string) {
	t.Helper()
	if plane == "frames" {
		return startFramesWith(t, cfg, opts)
	}
	return startProxy(t, cfg, opts)
}

// dial connects a client to addr (the proxy), closed when the test ends.
// A withTarget option replaces the passthrough:///addr target.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	target := "passthrough:///" + addr
	var rest []grpc.DialOption
	for _, o := range opts {
		if wt, ok := o.(targetOption); ok {
			target = string(wt.target)
			continue
		}
		rest = append(rest, o)
	}
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), fastBackoff}, rest...)
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// targetOption makes dial use another target.
type targetOption struct {
	grpc.EmptyDialOption
	target string
}

func withTarget(target string) grpc.DialOption { return targetOption{target: target} }

func testingProcs() int { return runtime.GOMAXPROCS(0) }

// oneCluster routes every given service to one cluster with target.
func oneCluster(target string, services ...string) *proxy.Config {
	cfg := &proxy.Config{Clusters: map[string]*proxy.Cluster{"c": {Target: target}}}
	for _, s := range services {
		cfg.Routes = append(cfg.Routes, proxy.Route{Service: s, Cluster: "c"})
	}
	return cfg
}

func staticTarget(addrs ...string) string { return balancertest.StaticTarget(addrs) }

const echoService = "grpclb.testbed.v1.Echo"

func startFleet(t testing.TB, n int) *testbed.Fleet { return balancertest.StartFleet(t, n) }

// startInterop starts grpc-go's interop test server on 127.0.0.1, the way
// grpc-go's interop/server does, and returns its address.
func startInterop(t testing.TB, opts ...grpc.ServerOption) string {
	t.Helper()
	s := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
	return balancertest.ServeGRPC(t, s)
}

// proxiedEchoOn starts n backends behind a proxy on a data plane and
// returns it and an Echo client connected to it.
func proxiedEchoOn(t testing.TB, plane string, n int) (*testbed.Fleet, dataPlane, echopb.EchoClient) {
	t.Helper()
	f := startFleet(t, n)
	p, addr := startPlane(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
	return f, p, echopb.NewEchoClient(dial(t, addr))
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
