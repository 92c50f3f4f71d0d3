package consul

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
	f := testbed.FleetFor(t, n, testbed.FleetConfig{})
	return &world{agent: a, api: a.Client(t), fleet: f, logs: resolvertest.NewLogRecorder(t), target: "consul://" + a.HTTPAddr() + "/echo"}
}

// register registers a backend as an instance of echo with a fast gRPC
// check (every 100ms, registered passing so clients see it at once), and
// deregisters it in t.Cleanup.
func (w *world) register(t *testing.T, b *testbed.Backend, tags []string) *instance {
	t.Helper()
	ap := netip.MustParseAddrPort(b.Addr)
	return registerWithAgent(t, w.api, api.AgentServiceRegistration{
		Name: "echo", ID: "echo-" + b.Name, Address: ap.Addr().String(), Port: int(ap.Port()),
		Tags: tags, Meta: map[string]string{"backend": b.Name},
	}, 100*time.Millisecond)
}

// instance is a service instance registered straight with the agent's API.
// The resolver's tests do not use register/consul: its tests import this
// module (a registration is proven by what the resolver sees), so this
// module must not import it back.
type instance struct {
	client *api.Client
	id     string

	mu           sync.Mutex
	deregistered bool
}

// registerWithAgent registers reg with the agent of client, with a gRPC
// check of reg's address every interval, registered passing (Consul's
// default is critical until the first check, which it runs at a random time
// within the first interval). The instance is deregistered in tb.Cleanup
// unless Deregister did it already.
func registerWithAgent(tb testing.TB, client *api.Client, reg api.AgentServiceRegistration, interval time.Duration) *instance {
	tb.Helper()
	reg.Check = &api.AgentServiceCheck{
		CheckID:  "service:" + reg.ID,
		Name:     "gRPC health of " + reg.ID,
		GRPC:     net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)),
		Interval: interval.String(),
		Timeout:  max(interval, time.Second).String(),
		Status:   api.HealthPassing,
	}
	if err := client.Agent().ServiceRegister(&reg); err != nil {
		tb.Fatalf("registering %s: %v", reg.ID, err)
	}
	in := &instance{client: client, id: reg.ID}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := in.Deregister(ctx); err != nil {
			tb.Error(err)
		}
	})
	return in
}

// Deregister removes the instance from the agent. An instance the agent no
// longer knows counts as deregistered; calling it again does nothing.
func (in *instance) Deregister(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.deregistered {
		return nil
	}
	err := in.client.Agent().ServiceDeregisterOpts(in.id, (&api.QueryOptions{}).WithContext(ctx))
	var se api.StatusError
	if err != nil && !(errors.As(err, &se) && se.Code == http.StatusNotFound) {
		return fmt.Errorf("deregistering %s: %w", in.id, err)
	}
	in.deregistered = true
	return nil
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

func portOf(t *testing.T, addr string) int {
	t.Helper()
	p, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
