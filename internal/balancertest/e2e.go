package balancertest

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	_ "github.com/grpclb/grpclb/resolver/static" // StaticTarget's scheme
)

// This file holds what the end-to-end tests of the policies share: a fleet
// of real echo backends on loopback, real gRPC clients of it, and the load
// loops that drive them.

// StartFleet starts n echo backends (with the given server options) and
// stops them when the test ends.
func StartFleet(tb testing.TB, n int, opts ...grpc.ServerOption) *testbed.Fleet {
	tb.Helper()
	f := testbed.FleetFor(tb, n, testbed.FleetConfig{ServerOptions: opts})
	return f
}

// Serve listens on a loopback port and runs serve on it in a goroutine;
// when the test ends it calls stop and waits for serve to return. It
// returns the address. If it cannot listen, it calls stop and fails the
// test.
func Serve(tb testing.TB, serve func(net.Listener) error, stop func()) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(lis)
	}()
	tb.Cleanup(func() {
		stop()
		<-done
	})
	return lis.Addr().String()
}

// ServeGRPC serves srv (with its services registered) like Serve.
func ServeGRPC(tb testing.TB, srv *grpc.Server) string {
	tb.Helper()
	return Serve(tb, srv.Serve, srv.Stop)
}

// ExampleFleet starts n echo backends (which serve the health service
// too) for an example, and returns them and the static target listing
// them. It exits the program if they do not start, as examples do.
func ExampleFleet(n int) (*testbed.Fleet, string) {
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		log.Fatal(err)
	}
	return f, StaticTarget(f.Addrs())
}

// StartVIP starts an L4 balancer in front of the fleet's backends, on a
// loopback port, and closes it when the test ends.
func StartVIP(tb testing.TB, f *testbed.Fleet) *testbed.VIP {
	tb.Helper()
	vip, err := testbed.StartVIP("127.0.0.1:0", f.Addrs()...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { vip.Close() })
	return vip
}

// StateOf is a resolver state that lists the backends, one endpoint each,
// but for the one at index skip (-1: none skipped).
func StateOf(backends []*testbed.Backend, skip int) resolver.State {
	var st resolver.State
	for i, b := range backends {
		if i != skip {
			st.Endpoints = append(st.Endpoints, EndpointsOf(b.Addr)...)
		}
	}
	return st
}

// ServiceConfig is a service config selecting policy with config (a JSON
// object).
func ServiceConfig(policy, config string) string {
	return fmt.Sprintf(`{"loadBalancingConfig":[{%q:%s}]}`, policy, config)
}

// RoundRobin is the service config of grpc-go's round_robin, the baseline
// of many tests.
var RoundRobin = ServiceConfig("round_robin", `{}`)

// StaticTarget is the target that lists addrs through grpclb's static
// resolver (which this package registers).
func StaticTarget(addrs []string) string { return "static:///" + strings.Join(addrs, ",") }

// EndpointsOf lists addrs as endpoints of one address each.
func EndpointsOf(addrs ...string) []resolver.Endpoint {
	eps := make([]resolver.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}}
	}
	return eps
}

// FastReconnect retries connections within 20ms to 200ms, so that
// restarted backends come back within the tests' deadlines.
var FastReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
	MinConnectTimeout: time.Second,
})

// Conn makes a client connection to target with serviceConfig, without
// TLS and with FastReconnect, and closes it when the test ends; opts come
// after those and may override them.
func Conn(tb testing.TB, target, serviceConfig string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		FastReconnect,
	}, opts...)
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		tb.Fatalf("grpc.NewClient(%q): %v", target, err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// Dial is Conn as an echo client.
func Dial(tb testing.TB, target, serviceConfig string, opts ...grpc.DialOption) echopb.EchoClient {
	tb.Helper()
	return echopb.NewEchoClient(Conn(tb, target, serviceConfig, opts...))
}

// WarmUp makes calls one after another, each waiting for a ready
// connection, until backends different backends have answered, so that
// every endpoint a test needs is connected before it starts. It fails the
// test after 15s.
func WarmUp(tb testing.TB, client echopb.EchoClient, backends int) {
	tb.Helper()
	WarmUpContext(tb, context.Background(), client, backends)
}

// WarmUpContext is WarmUp with the calls' context made from ctx.
func WarmUpContext(tb testing.TB, ctx context.Context, client echopb.EchoClient, backends int) {
	tb.Helper()
	seen := make(map[string]bool)
	wait.Until(tb, 15*time.Second, func() (bool, string) {
		for range 20 { // calls a poll, at most
			if resp, err := Echo(ctx, client, grpc.WaitForReady(true)); err == nil {
				seen[resp.GetBackend()] = true
			}
			if len(seen) >= backends {
				return true, ""
			}
		}
		return false, fmt.Sprintf("warm-up: only %d of %d backends answered", len(seen), backends)
	})
}

// CallTimeout bounds each call of the helpers here.
const CallTimeout = 5 * time.Second

// Echo makes one Echo call within CallTimeout.
func Echo(ctx context.Context, client echopb.EchoClient, opts ...grpc.CallOption) (*echopb.EchoResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	return client.Echo(ctx, &echopb.EchoRequest{}, opts...)
}

// Tally makes n calls one after another and returns how many each backend
// answered (by name) and the errors of the others.
func Tally(client echopb.EchoClient, n int) (answered map[string]int, errs []error) {
	answered = make(map[string]int)
	for range n {
		resp, err := Echo(context.Background(), client)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered[resp.GetBackend()]++
	}
	return answered, errs
}

// WaitAllServeAgain waits until every one of backends has served a call
// since WaitAllServeAgain was called; after 30s it fails the test.
func WaitAllServeAgain(tb testing.TB, backends []*testbed.Backend) {
	tb.Helper()
	served := func() []int64 {
		s := make([]int64, len(backends))
		for i, b := range backends {
			s[i] = b.Served()
		}
		return s
	}
	base := served()
	wait.Until(tb, 30*time.Second, func() (bool, string) {
		now := served()
		for i := range now {
			if now[i] <= base[i] {
				return false, fmt.Sprintf("some backend got no call: served %v, was %v", now, base)
			}
		}
		return true, ""
	})
}
