package xds_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
	"github.com/grpclb/grpclb/xds/xdstest"
)

// backend is a real gRPC server on loopback answering Echo with its name.
// It counts its calls and, once armed, notes when the first call after
// that arrived, for propagation times.
type backend struct {
	echopb.UnimplementedEchoServer

	name  string
	addr  string
	zone  string      // the endpoint.Zone state publishes; "" for none
	stop  func()      // stops the server: connections close, dials are refused
	fail  atomic.Bool // fail every call with INTERNAL
	calls atomic.Int64
	first atomic.Int64 // unix ns of the first call since arm; 0 before it
	armed atomic.Bool
}

func (b *backend) Echo(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	b.calls.Add(1)
	if b.fail.Load() {
		return nil, status.Error(codes.Internal, b.name+" fails every call")
	}
	if b.armed.Load() {
		b.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	return &echopb.EchoResponse{Backend: b.name, Addr: b.addr}, nil
}

// arm makes b note its next call's time.
func (b *backend) arm() {
	b.first.Store(0)
	b.armed.Store(true)
}

// startBackends starts n backends named b0, b1, ... on 127.0.0.1, stopped
// when the test ends.
func startBackends(t *testing.T, n int) []*backend {
	t.Helper()
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = startBackend(t, fmt.Sprintf("b%d", i), "")
	}
	return bs
}

// startBackend starts a backend called name in zone on 127.0.0.1, stopped
// when the test ends.
func startBackend(t *testing.T, name, zone string) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, zone: zone, addr: lis.Addr().String()}
	srv := grpc.NewServer()
	echopb.RegisterEchoServer(srv, b)
	go srv.Serve(lis)
	b.stop = srv.Stop
	t.Cleanup(srv.Stop)
	return b
}

// addrs returns the backends' addresses.
func addrs(bs ...*backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.addr
	}
	return out
}

// state is a resolver state with one endpoint per backend, in the
// backend's zone if it has one.
func state(bs ...*backend) resolver.State {
	var s resolver.State
	for _, b := range bs {
		ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: b.addr}}}
		if b.zone != "" {
			ep = endpoint.WithZone(ep, b.zone)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// testLogger is a slog.Logger writing to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// quietLogger logs warnings and errors only, to stderr.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

var _ io.Writer = tWriter{}

// startServer starts a Server for cfg on 127.0.0.1 and returns it and its
// address; it is closed when the test ends.
func startServer(t *testing.T, cfg xds.Config) (*xds.Server, string) {
	t.Helper()
	return xdstest.Start(t, cfg, xds.Options{Logger: testLogger(t)})
}

// dial connects grpc-go's own xDS client to xds:///service through the
// Server at addr, with a bootstrap of its own (a new node ID, zone "z1",
// which no backend is in unless a test says so).
func dial(t *testing.T, addr, service string) echopb.EchoClient {
	t.Helper()
	return dialZone(t, addr, service, "z1")
}

// dialZone is dial from a node in zone ("" for none).
func dialZone(t *testing.T, addr, service, zone string) echopb.EchoClient {
	t.Helper()
	return echopb.NewEchoClient(xdstest.Dial(t, addr, service, zone))
}

// call makes one Echo call and returns the backend that answered, or "".
func call(c echopb.EchoClient) string { return testbed.Call(c, 2*time.Second) }

// waitAllServe calls through c until every backend of want has answered,
// failing the test after 20 s or 20000 calls.
func waitAllServe(t *testing.T, c echopb.EchoClient, want ...*backend) {
	t.Helper()
	seen := map[string]bool{}
	calls := 0
	wait.Until(t, 20*time.Second, func() (bool, string) {
		for range 20 {
			calls++
			if name := call(c); name != "" {
				seen[name] = true
			}
		}
		for _, b := range want {
			if !seen[b.name] {
				return calls >= 20000, fmt.Sprintf("after %d calls, %s (%s) has not answered; answered: %v", calls, b.name, b.addr, seen)
			}
		}
		return true, ""
	})
	for _, b := range want {
		if !seen[b.name] {
			t.Fatalf("after %d calls, %s has not answered; answered: %v", calls, b.name, seen)
		}
	}
}

// tally makes n calls through c and returns how many each backend
// answered and how many failed.
func tally(c echopb.EchoClient, n int) (map[string]int, int) {
	return testbed.Tally(c, n, 2*time.Second)
}

// sources are manual resolvers, registered once (the resolver registry is
// not safe for concurrent use), each under a scheme of its own; a test
// takes one with source.
var (
	sourcesMu sync.Mutex
	sources   = map[string]*manual.Resolver{}
)

func init() {
	for _, name := range []string{"changes", "propagation", "errors", "unchanged", "large", "lookaside", "lookaside-raw", "zones", "failover", "zoneoff", "zoneod", "subset", "subsetgrace"} {
		r := manual.NewBuilderWithScheme("xdstest-" + name)
		resolver.Register(r)
		sources[name] = r
	}
}

// source returns the manual resolver called name with s as its state, and
// its target.
func source(t *testing.T, name string, s resolver.State) (*manual.Resolver, string) {
	t.Helper()
	sourcesMu.Lock()
	r, ok := sources[name]
	sourcesMu.Unlock()
	if !ok {
		t.Fatalf("no manual resolver %q registered", name)
	}
	r.InitialState(s)
	return r, r.Scheme() + ":///" + name
}
