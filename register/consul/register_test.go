package consul_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/register/consul"
	rconsul "github.com/grpclb/grpclb/resolver/consul"
	"github.com/grpclb/grpclb/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func service(b *testbed.Backend, tags ...string) consul.Service {
	ap := netip.MustParseAddrPort(b.Addr)
	return consul.Service{Name: "echo", ID: "echo-" + b.Name, Address: ap.Addr().String(), Port: int(ap.Port()), Tags: tags,
		Meta: map[string]string{"backend": b.Name}}
}

func register(t *testing.T, c *api.Client, svc consul.Service, opts ...consul.Option) *consul.Registration {
	t.Helper()
	opts = append([]consul.Option{
		consul.WithGRPCCheck(100 * time.Millisecond),
		consul.WithResync(200 * time.Millisecond),
		consul.WithMaxBackoff(500 * time.Millisecond),
		consul.WithLogger(quiet),
	}, opts...)
	r, err := consul.Register(context.Background(), c, svc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func startFleet(t *testing.T, n int) []*testbed.Backend {
	return balancertest.StartFleet(t, n).Backends()
}

func newClient(t *testing.T, a *consultest.Agent, query string) echopb.EchoClient {
	t.Helper()
	return newLoggingClient(t, a, query, quiet)
}

// newLoggingClient is newClient with the resolver's logs going to logger.
func newLoggingClient(t *testing.T, a *consultest.Agent, query string, logger *slog.Logger) echopb.EchoClient {
	t.Helper()
	return resolvertest.RoundRobinClient(t, "consul://"+a.HTTPAddr()+"/echo"+query,
		grpc.WithResolvers(rconsul.NewBuilder(rconsul.Options{Config: &api.Config{Scheme: "http"}, Logger: logger, MaxBackoff: 500 * time.Millisecond})))
}

// status is the aggregated status of an instance as the agent sees it, or
// "" when it does not know it.
func status(t *testing.T, c *api.Client, id string) string {
	t.Helper()
	st, info, err := c.Agent().AgentHealthServiceByID(id)
	if err != nil || info == nil {
		return ""
	}
	return st
}

func TestGRPCCheckFollowsTheHealthService(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	bs := startFleet(t, 1)
	r := register(t, c, service(bs[0], "grpc"))
	checks, err := c.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	chk := checks[r.CheckID()]
	if chk == nil || chk.Type != "grpc" || chk.ServiceID != r.ID() {
		t.Fatalf("check %+v, want a grpc check of %s", chk, r.ID())
	}
	wait.For(t, 10*time.Second, "check never passed", func() bool { return status(t, c, r.ID()) == api.HealthPassing })
	bs[0].SetServing(false)
	wait.For(t, 10*time.Second, "check never failed", func() bool { return status(t, c, r.ID()) == api.HealthCritical })
	bs[0].SetServing(true)
	wait.For(t, 10*time.Second, "check never passed again", func() bool { return status(t, c, r.ID()) == api.HealthPassing })
	svc, _, err := c.Agent().Service(r.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Service != "echo" || svc.Port != service(bs[0]).Port || !slices.Equal(svc.Tags, []string{"grpc"}) || svc.Meta["backend"] != "b1" {
		t.Errorf("registered %+v", svc)
	}
}

func TestTTLCheckIsKeptPassing(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	bs := startFleet(t, 1)
	r := register(t, c, service(bs[0]), consul.WithTTLCheck(600*time.Millisecond))
	if st := status(t, c, r.ID()); st != api.HealthPassing {
		t.Fatalf("status %q right after Register, want passing", st)
	}
	// Several TTLs pass: the goroutine keeps it passing.
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		if st := status(t, c, r.ID()); st != api.HealthPassing {
			t.Fatalf("status %q while kept alive", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Stop() // as if the process hung: the TTL runs out
	wait.For(t, 5*time.Second, "TTL never ran out", func() bool { return status(t, c, r.ID()) == api.HealthCritical })
}

func TestReRegistersAfterAnAgentRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  consul.Option
	}{{"grpc", consul.WithGRPCCheck(100 * time.Millisecond)}, {"ttl", consul.WithTTLCheck(600 * time.Millisecond)}} {
		t.Run(tc.name, func(t *testing.T) {
			a := consultest.Start(t)
			c := a.Client(t)
			bs := startFleet(t, 2)
			r1 := register(t, c, service(bs[0]), tc.opt, consul.WithInitialPassing())
			r2 := register(t, c, service(bs[1]), tc.opt, consul.WithInitialPassing())
			cl := newClient(t, a, "")
			resolvertest.WaitForSet(t, cl, resolvertest.Names(bs...), 10*time.Second)
			a.Stop()
			a.Restart() // empty: a -dev agent keeps nothing
			wait.For(t, 10*time.Second, "never registered again", func() bool {
				return r1.Registrations() >= 2 && r2.Registrations() >= 2 &&
					status(t, c, r1.ID()) == api.HealthPassing && status(t, c, r2.ID()) == api.HealthPassing
			})
			// The resolver follows the new agent: a deregistration is seen.
			if err := r1.Deregister(context.Background()); err != nil {
				t.Fatal(err)
			}
			resolvertest.WaitForSet(t, cl, resolvertest.Names(bs[1]), 10*time.Second)
		})
	}
}

// registryOutage is how long the registry stays away under load.
const registryOutage = 20 * time.Second

// The agent goes away for a while under load: the resolver keeps the last
// good set (no call fails), then follows the registrations made again by
// register/consul after the agent came back empty with a new index.
func TestAgentDownAndRestartedUnderLoad(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	bs := startFleet(t, 4)
	logs := resolvertest.NewLogRecorder(t)
	reg := func(b *testbed.Backend) *consul.Registration {
		t.Helper()
		return register(t, c, service(b), consul.WithInitialPassing(), consul.WithLogger(logs.Logger()))
	}
	var regs []*consul.Registration
	for _, b := range bs[:3] {
		regs = append(regs, reg(b))
	}
	cl := newLoggingClient(t, a, "", logs.Logger())
	resolvertest.WaitForSet(t, cl, resolvertest.Names(bs[:3]...), 10*time.Second)

	l := resolvertest.StartLoad(cl, 4)
	a.Stop()
	// The outage lasts 20s (the figure), long enough for many
	// failed queries and for the resolver's backoff to reach its cap; this
	// wait is the scenario, not a synchronisation.
	<-time.After(registryOutage)
	if n := logs.Count("query failed; keeping the last good set"); n == 0 {
		t.Error("the resolver never noticed that the agent was down")
	}
	a.Restart()
	resolvertest.Eventually(t, 20*time.Second, "registrations made again", func() bool {
		for _, r := range regs {
			if r.Registrations() < 2 {
				return false
			}
		}
		return true
	})
	// A new instance registered on the restarted agent shows that the
	// resolver follows the new history.
	reg(bs[3])
	resolvertest.WaitForSet(t, cl, resolvertest.Names(bs...), 15*time.Second)
	ok, failed := l.Finish()
	if failed != 0 {
		t.Errorf("%d of %d calls failed while the agent was down (first: %v)", failed, ok+failed, l.FirstError())
	}
	if ok == 0 {
		t.Error("no call succeeded")
	}
	t.Logf("%d calls, none failed", ok)
}

// stopper lets server.Drain stop a testbed backend, and records whether the
// instance was still registered when the server stopped serving.
type stopper struct {
	b          *testbed.Backend
	c          *api.Client
	id         string
	mu         sync.Mutex
	registered bool
}

func (s *stopper) GracefulStop() {
	svcs, err := s.c.Agent().Services()
	s.mu.Lock()
	s.registered = err != nil || svcs[s.id] != nil
	s.mu.Unlock()
	s.b.Stop()
}

func (s *stopper) Stop() { s.b.Kill() }

// server.Drain with Deregister as its hook takes the instance out of
// Consul before the server stops serving: under load, no call fails.
func TestDeregisterAsDrainHook(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	bs := startFleet(t, 3)
	var regs []*consul.Registration
	for _, b := range bs {
		regs = append(regs, register(t, c, service(b), consul.WithInitialPassing()))
	}
	cl := newClient(t, a, "")
	resolvertest.WaitForSet(t, cl, resolvertest.Names(bs...), 10*time.Second)

	load := resolvertest.StartLoad(cl, 1)
	st := &stopper{b: bs[0], c: c, id: regs[0].ID()}
	err := server.Drain(context.Background(), st, server.DrainConfig{
		OnNotServing: []func(context.Context) error{
			func(context.Context) error { bs[0].SetServing(false); return nil },
			regs[0].Deregister,
		},
		Grace:  500 * time.Millisecond,
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := load.Finish()
	if st.registered {
		t.Error("the instance was still registered when the server stopped serving")
	}
	if failed != 0 {
		t.Errorf("%d of %d calls failed during the drain (%v)", failed, failed+ok, load.FirstError())
	}
	resolvertest.WaitForSet(t, cl, resolvertest.Names(bs[1:]...), 10*time.Second)
	// Deregister again does nothing.
	if err := regs[0].Deregister(context.Background()); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	for _, tc := range []struct {
		svc  consul.Service
		opts []consul.Option
		want string
	}{
		{svc: consul.Service{Port: 1}, want: "service name"},
		{svc: consul.Service{Name: "a b", Port: 1}, want: "service name"},
		{svc: consul.Service{Name: "echo"}, want: "port 0"},
		{svc: consul.Service{Name: "echo", Port: 70000}, want: "port 70000"},
		{svc: consul.Service{Name: "echo", Port: 1, Address: "a b"}, want: "address"},
		{svc: consul.Service{Name: "echo", Port: 1, Tags: []string{""}}, want: "empty tag"},
		{svc: consul.Service{Name: "echo", Port: 1}, opts: []consul.Option{consul.WithTTLCheck(time.Millisecond)}, want: "TTL"},
		{svc: consul.Service{Name: "echo", Port: 1}, opts: []consul.Option{consul.WithTimeout(0)}, want: "timeout"},
	} {
		_, err := consul.Register(context.Background(), c, tc.svc, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register(%+v) = %v, want an error containing %q", tc.svc, err, tc.want)
		}
	}
	if _, err := consul.Register(context.Background(), nil, consul.Service{Name: "echo", Port: 1}); err == nil {
		t.Error("nil client accepted")
	}
}

func TestRegisterFailsWhileTheAgentIsDown(t *testing.T) {
	a := consultest.Start(t)
	c := a.Client(t)
	a.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := consul.Register(ctx, c, consul.Service{Name: "echo", Port: 1}, consul.WithLogger(quiet)); err == nil {
		t.Fatal("Register succeeded with no agent")
	}
}
