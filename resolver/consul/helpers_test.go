package consul

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	register "github.com/grpclb/grpclb/register/consul"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a real Consul agent and a fleet of backends.
type world struct {
	agent  *consultest.Agent
	api    *api.Client
	fleet  *testbed.Fleet
	logs   *resolvertest.LogRecorder
	target string
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	a := consultest.Start(t)
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return &world{agent: a, api: a.Client(t), fleet: f, logs: resolvertest.NewLogRecorder(t), target: "consul://" + a.HTTPAddr() + "/echo"}
}

// register registers a backend as an instance of echo with a fast gRPC
// check, and deregisters it in t.Cleanup.
func (w *world) register(t *testing.T, b *testbed.Backend, tags []string, opts ...register.Option) *register.Registration {
	t.Helper()
	ap := netip.MustParseAddrPort(b.Addr)
	opts = append([]register.Option{
		register.WithGRPCCheck(100 * time.Millisecond),
		register.WithInitialPassing(),
		register.WithResync(200 * time.Millisecond),
		register.WithMaxBackoff(500 * time.Millisecond),
		register.WithLogger(w.logs.Logger()),
	}, opts...)
	r, err := register.Register(context.Background(), w.api, register.Service{
		Name: "echo", ID: "echo-" + b.Name, Address: ap.Addr().String(), Port: int(ap.Port()),
		Tags: tags, Meta: map[string]string{"backend": b.Name},
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// builder is a builder whose logs go to the world's recorder, with short
// waits and backoff, and which ignores the machine's CONSUL_* variables.
func (w *world) builder() resolver.Builder {
	return NewBuilder(Options{
		Config:     &api.Config{Scheme: "http"},
		Logger:     w.logs.Logger(),
		MaxBackoff: 500 * time.Millisecond,
	})
}

func newClient(t *testing.T, target string, opts ...grpc.DialOption) echopb.EchoClient {
	t.Helper()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return echopb.NewEchoClient(cc)
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	p, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
