package consul

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
)

func TestRegisterAndDeregisterSeenByClient(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	regs := make([]interface{ Deregister(context.Context) error }, len(bs))
	for i, b := range bs {
		regs[i] = w.register(t, b, nil)
	}
	c := resolvertest.RoundRobinClient(t, w.target, grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	if err := regs[1].Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0], bs[2]), 10*time.Second)

	w.register(t, bs[1], nil)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
}

// The gRPC check is Consul's own: a backend whose health service answers
// NOT_SERVING fails it and leaves the passing set.
func TestNotServingRemovesABackend(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	for _, b := range bs {
		w.register(t, b, nil)
	}
	c := resolvertest.RoundRobinClient(t, w.target, grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	bs[2].SetServing(false)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0], bs[1]), 10*time.Second)
	bs[2].SetServing(true)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	// passing=false follows every registered instance, whatever its checks.
	bs[0].SetServing(false)
	all := resolvertest.RoundRobinClient(t, w.target+"?passing=false", grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1], bs[2]), 10*time.Second)
	resolvertest.WaitForSet(t, all, resolvertest.Names(bs...), 10*time.Second)
}

func TestSeveralTagsMustAllMatch(t *testing.T) {
	w := newWorld(t, 4)
	bs := w.fleet.Backends()
	w.register(t, bs[0], []string{"grpc", "v1"})
	w.register(t, bs[1], []string{"grpc", "v2"})
	w.register(t, bs[2], []string{"v2"})
	w.register(t, bs[3], []string{"v2", "canary", "grpc"})
	both := resolvertest.RoundRobinClient(t, w.target+"?tag=grpc&tag=v2", grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, both, resolvertest.Names(bs[1], bs[3]), 10*time.Second)
	one := resolvertest.RoundRobinClient(t, w.target+"?tag=v2", grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, one, resolvertest.Names(bs[1], bs[2], bs[3]), 10*time.Second)
	three := resolvertest.RoundRobinClient(t, w.target+"?tag=v2&tag=canary&tag=grpc", grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, three, resolvertest.Names(bs[3]), 10*time.Second)
}

func TestAttributes(t *testing.T) {
	w := newWorld(t, 2)
	bs := w.fleet.Backends()
	ap := netip.MustParseAddrPort(bs[0].Addr)
	registerWithAgent(t, w.api, api.AgentServiceRegistration{
		Name: "echo", ID: "echo-" + bs[0].Name, Address: ap.Addr().String(), Port: int(ap.Port()),
		Tags: []string{"grpc", "zone-a"}, Meta: map[string]string{"backend": bs[0].Name, "zone": "zone-a"},
	}, 100*time.Millisecond)
	w.register(t, bs[1], []string{"grpc"})
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target, cc)
	defer r.Close()
	st := cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr))
	for _, ep := range st.Endpoints {
		inst, ok := InstanceFromEndpoint(ep)
		if !ok {
			t.Fatalf("endpoint %v has no Instance", ep.Addresses)
		}
		b := w.fleet.ByAddr(inst.Addr)
		if b == nil || inst.Meta["backend"] != b.Name || inst.ID != "echo-"+b.Name || inst.Service != "echo" ||
			inst.Node != "consultest" || inst.Datacenter != "dc1" || !slices.Contains(inst.Tags, "grpc") {
			t.Errorf("instance %+v does not describe its backend", inst)
		}
		if z := endpoint.Zone(ep); z != inst.Meta["zone"] {
			t.Errorf("%s: endpoint.Zone %q, want its Meta zone %q", b.Name, z, inst.Meta["zone"])
		}
	}
}

// Entries that cannot be dialed are skipped with a log line naming them;
// an empty service address falls back to the node's.
func TestBadEntriesAreSkipped(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	reg := func(node, nodeAddr, id, addr string, port int) {
		t.Helper()
		_, err := w.api.Catalog().Register(&api.CatalogRegistration{
			Node: node, Address: nodeAddr, SkipNodeUpdate: false,
			Service: &api.AgentService{ID: id, Service: "echo", Address: addr, Port: port},
		}, nil)
		if err != nil {
			t.Fatalf("registering %s/%s: %v", node, id, err)
		}
	}
	host := func(b *testbed.Backend) string { return b.Addr[:strings.LastIndexByte(b.Addr, ':')] }
	port := portOf(t, bs[0].Addr)
	reg("n1", "127.0.0.1", "good", host(bs[0]), port)
	reg("n2", host(bs[1]), "node-address", "", port) // falls back to the node's address
	reg("n3", "127.0.0.1", "port-zero", host(bs[2]), 0)
	reg("n3", "127.0.0.1", "port-big", host(bs[2]), 70000)
	reg("n3", "127.0.0.1", "spaces", "bad host", port)
	reg("n3", "127.0.0.1", "not-a-host", "a:b:c", port)
	reg("n4", "127.0.0.1", "dup", host(bs[0]), port) // same address as n1/good

	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target, cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr))
	for _, name := range []string{"n3/port-zero", "n3/port-big", "n3/spaces", "n3/not-a-host"} {
		resolvertest.Eventually(t, 5*time.Second, name+" not logged", func() bool { return w.logs.Count("skipping a bad entry", "entry="+name) == 1 })
	}
	resolvertest.Eventually(t, 5*time.Second, "duplicate not logged", func() bool {
		return w.logs.Count("skipping a duplicate instance", "entry=n4/dup", "duplicate_of=n1/good") == 1
	})

	// A real client (logging elsewhere) works end to end.
	c := resolvertest.RoundRobinClient(t, w.target, grpc.WithResolvers(NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: quiet})))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0], bs[1]), 10*time.Second)

	// A change elsewhere republishes; the bad entries are not logged again.
	reg("n5", "127.0.0.1", "third", host(bs[2]), port)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr, bs[2].Addr))
	if n := w.logs.Count("skipping a bad entry", "entry=n3/spaces"); n != 1 {
		t.Errorf("n3/spaces logged %d times, want once", n)
	}
}

func TestUnknownServiceReportsAnErrorThenFollows(t *testing.T) {
	w := newWorld(t, 1)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target, cc)
	defer r.Close()
	resolvertest.Eventually(t, 10*time.Second, "no error reported", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) > 0 && strings.Contains(errs[0].Error(), `no passing instance of service "echo"`)
	})
	w.register(t, w.fleet.Backends()[0], nil)
	cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Backends()[0].Addr))
}

// An agent that fails every query the same way: the failure is reported
// once (the same error again is the same problem), the resolver keeps
// retrying, and nothing is published.
func TestFailingAgentReportsAnErrorOnce(t *testing.T) {
	var tries atomic.Int32
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tries.Add(1)
		http.Error(w, "agent is shutting down", http.StatusServiceUnavailable)
	}))
	defer agent.Close()
	cc := &resolvertest.RecordingCC{}
	logs := resolvertest.NewLogRecorder(t)
	b := NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: logs.Logger(), MaxBackoff: 200 * time.Millisecond})
	r := resolvertest.Build(t, b, "consul://"+strings.TrimPrefix(agent.URL, "http://")+"/echo", cc)
	defer r.Close()
	resolvertest.Eventually(t, 10*time.Second, "an error reported and 3 tries", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) >= 1 && tries.Load() >= 3
	})
	states, errs := cc.Snapshot()
	if len(states) != 0 {
		t.Errorf("published %v with no agent", states)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `health of "echo"`) || !strings.Contains(errs[0].Error(), "shutting down") {
		t.Errorf("errors %v, want one naming the query and the agent's words", errs)
	}
	if n := logs.Count("query failed"); n != 1 {
		t.Errorf("%d log lines for one repeated failure, want 1", n)
	}
}

// An agent nobody listens for: the refusal reaches the channel.
func TestUnreachableAgentReportsAnError(t *testing.T) {
	cc := &resolvertest.RecordingCC{}
	b := NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: quiet, MaxBackoff: 200 * time.Millisecond})
	r := resolvertest.Build(t, b, "consul://127.0.0.1:1/echo", cc)
	defer r.Close()
	resolvertest.Eventually(t, 10*time.Second, "an error reported", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) == 1 && strings.Contains(errs[0].Error(), "connection refused")
	})
}

func TestBuildRejectsBadTargets(t *testing.T) {
	for _, target := range []string{"consul://h:1", "consul://h:1/a/b", "consul://h:1/svc?tag=", "consul://h:1/svc?bogus=1", "consul://u:p@h:1/svc"} {
		if _, err := NewBuilder(Options{}).Build(resolver.Target{URL: resolvertest.URL(t, target)}, &resolvertest.RecordingCC{}, resolver.BuildOptions{}); err == nil {
			t.Errorf("Build(%q) succeeded", target)
		}
	}
}
