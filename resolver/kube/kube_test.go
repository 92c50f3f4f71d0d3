package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/itest/kubeapi"
	"github.com/grpclb/grpclb/internal/itest/kubetest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a real API server, a namespace, a fleet of backends and the
// documentation addresses the slices list for them.
type world struct {
	tb    testing.TB
	api   *kubetest.Server
	ns    string
	fleet *testbed.Fleet
	docs  *kubeapi.DocMap
}

func newWorld(tb testing.TB, api *kubetest.Server, backends int) *world {
	tb.Helper()
	f := testbed.FleetFor(tb, backends, testbed.FleetConfig{})
	return &world{tb: tb, api: api, ns: api.Namespace(tb), fleet: f, docs: kubeapi.NewDocMap()}
}

// eps lists backends as ready endpoints with their documentation IPv4
// addresses, each backend a pod named after it.
func (w *world) eps(bs ...*testbed.Backend) []ep {
	out := make([]ep, len(bs))
	for i, b := range bs {
		out[i] = ep{ip: w.docs.V4(b.Addr), pod: b.Name}
	}
	return out
}

// port is the fleet's port, named "grpc" in slices.
func (w *world) ports() []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{tcpPort("grpc", int32(w.fleet.Port()))}
}

// put writes slice name of service svc with endpoints eps.
func (w *world) put(svc, name string, eps ...ep) {
	w.tb.Helper()
	apply(w.tb, w.api.Client(), slice(w.ns, svc, name, discoveryv1.AddressTypeIPv4, w.ports(), eps...))
}

// client is a round_robin ClientConn to target through b (a builder using
// the admin's credentials when nil).
func (w *world) client(target string, b *Builder) echopb.EchoClient {
	w.tb.Helper()
	if b == nil {
		b = NewBuilder(Options{Config: w.api.Config(), Logger: quiet})
	}
	return resolvertest.RoundRobinClient(w.tb, target, grpc.WithResolvers(b), grpc.WithContextDialer(w.docs.Dial))
}

// serving puts the backends bs as the one slice of service svc and
// returns a client of svc (client) once every one of them answers.
func (w *world) serving(svc string, bs ...*testbed.Backend) echopb.EchoClient {
	w.tb.Helper()
	w.put(svc, svc+"-a", w.eps(bs...)...)
	c := w.client(w.target(svc), nil)
	resolvertest.WaitForSet(w.tb, c, resolvertest.Names(bs...), 10*time.Second)
	return c
}

func (w *world) target(svc string) string {
	return fmt.Sprintf("kubernetes:///%s.%s:grpc", svc, w.ns)
}

// TestAPIServer runs the resolver against a real kube-apiserver, one
// namespace per subtest.
func TestAPIServer(t *testing.T) {
	api := kubetest.Start(t)

	t.Run("250 endpoints in 3 slices all used", func(t *testing.T) {
		w := newWorld(t, api, 250)
		bs := w.fleet.Backends()
		headless(t, api.Client(), w.ns, "big")
		w.put("big", "big-1", w.eps(bs[:100]...)...)
		w.put("big", "big-2", w.eps(bs[100:200]...)...)
		w.put("big", "big-3", w.eps(bs[200:]...)...)
		c := w.client(w.target("big"), nil)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 30*time.Second)
		for _, b := range bs {
			if b.Served() == 0 {
				t.Errorf("%s served nothing", b.Name)
			}
		}
	})

	t.Run("zones in the endpoint attribute", func(t *testing.T) {
		w := newWorld(t, api, 3)
		bs := w.fleet.Backends()
		eps := w.eps(bs...)
		eps[0].zone, eps[1].zone = "zone-a", "zone-b" // eps[2]: no zone
		w.put("zoned", "zoned-a", eps...)
		cc := &resolvertest.RecordingCC{}
		r := resolvertest.Build(t, NewBuilder(Options{Config: api.Config(), Logger: quiet}), w.target("zoned"), cc)
		defer r.Close()
		st := cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 3 })
		want := map[string]string{bs[0].Name: "zone-a", bs[1].Name: "zone-b", bs[2].Name: ""}
		for _, e := range st.Endpoints {
			info, _ := InfoFromEndpoint(e)
			if z := endpoint.Zone(e); z != want[info.Name] || z != info.Zone {
				t.Errorf("pod %s: endpoint.Zone %q, Info.Zone %q, want %q", info.Name, z, info.Zone, want[info.Name])
			}
		}
	})

	t.Run("slice deleted", func(t *testing.T) {
		w := newWorld(t, api, 3)
		bs := w.fleet.Backends()
		w.put("del", "del-a", w.eps(bs[0], bs[1])...)
		w.put("del", "del-b", w.eps(bs[2])...)
		c := w.client(w.target("del"), nil)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
		remove(t, api.Client(), w.ns, "del-b")
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0], bs[1]), 10*time.Second)
		remove(t, api.Client(), w.ns, "del-a")
		waitUnavailable(t, c, "")
	})

	t.Run("an unknown port name reaches callers of every policy", func(t *testing.T) {
		testErrorsReachCallers(t, api)
	})

	t.Run("scale to zero and back", func(t *testing.T) {
		w := newWorld(t, api, 2)
		bs := w.fleet.Backends()
		c := w.serving("zero", bs...)
		w.put("zero", "zero-a") // the controller keeps an empty slice
		waitUnavailable(t, c, "")
		w.put("zero", "zero-a", w.eps(bs[1])...)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1]), 10*time.Second)
	})

	t.Run("no such service", func(t *testing.T) {
		w := newWorld(t, api, 1)
		logs := resolvertest.NewLogRecorder(t)
		c := w.client(w.target("missing"), NewBuilder(Options{Config: api.Config(), Logger: logs.Logger()}))
		waitUnavailable(t, c, "")
		if logs.Count("has no EndpointSlice", "does the Service exist") == 0 {
			t.Errorf("no log line says the service has no EndpointSlice: %q", logs.Lines())
		}
		// pick_first shows the resolver's error to callers.
		cc, err := grpc.NewClient(w.target("missing"), grpc.WithResolvers(NewBuilder(Options{Config: api.Config(), Logger: quiet})),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		waitUnavailable(t, echopb.NewEchoClient(cc), "has no EndpointSlice")
	})

	t.Run("terminating endpoint drained", func(t *testing.T) {
		w := newWorld(t, api, 2)
		bs := w.fleet.Backends()
		c := w.serving("term", bs...)

		// Slow calls in flight on bs[1] when it starts terminating.
		bs[1].SetLatency(2 * time.Second)
		type result struct {
			backend string
			err     error
		}
		results := make(chan result, 8)
		for range 8 {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp, err := c.Echo(ctx, &echopb.EchoRequest{})
				results <- result{resp.GetBackend(), err}
			}()
		}
		resolvertest.Eventually(t, 5*time.Second, "calls in flight on "+bs[1].Name, func() bool { return bs[1].InFlight() > 0 })
		inFlight := bs[1].InFlight()
		eps := w.eps(bs...)
		eps[1].terminating = true // still serving
		w.put("term", "term-a", eps...)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0]), 10*time.Second)
		served := bs[1].Served() + bs[1].InFlight()
		got, failed := testbed.Tally(c, 200, 5*time.Second)
		if failed != 0 || got[bs[1].Name] != 0 {
			t.Errorf("after draining: calls %v, %d failed; want none on %s", got, failed, bs[1].Name)
		}
		if now := bs[1].Served() + bs[1].InFlight(); now != served {
			t.Errorf("%s took %d new calls while terminating", bs[1].Name, now-served)
		}
		onDrained := 0
		for range 8 {
			r := <-results
			if r.err != nil {
				t.Errorf("a call in flight failed: %v", r.err)
			}
			if r.backend == bs[1].Name {
				onDrained++
			}
		}
		if int64(onDrained) < inFlight {
			t.Errorf("%d calls finished on %s, but %d were in flight on it", onDrained, bs[1].Name, inFlight)
		}
	})

	t.Run("terminating endpoints used when none is ready", func(t *testing.T) {
		w := newWorld(t, api, 2)
		bs := w.fleet.Backends()
		eps := w.eps(bs...)
		eps[0].terminating = true
		eps[1].notReady = true
		w.put("last", "last-a", eps...)
		c := w.client(w.target("last"), nil)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0]), 10*time.Second)
	})

	t.Run("named ports per slice", func(t *testing.T) {
		w := newWorld(t, api, 1)
		other := testbed.FleetFor(t, 1, testbed.FleetConfig{})
		old := w.fleet.Backends()[0]
		nu := other.Backends()[0]
		nu.Name = "new-b1"
		apply(t, api.Client(), slice(w.ns, "ports", "ports-old", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{tcpPort("grpc", int32(w.fleet.Port()))}, w.eps(old)...))
		apply(t, api.Client(), slice(w.ns, "ports", "ports-new", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{tcpPort("metrics", 9100), tcpPort("grpc", int32(other.Port()))}, ep{ip: w.docs.V4(nu.Addr), pod: "new"}))
		c := w.client(w.target("ports"), nil)
		resolvertest.WaitForSet(t, c, resolvertest.Names(old, nu), 10*time.Second)
		// By number, only the slice whose pods listen there answers.
		c2 := w.client(fmt.Sprintf("kubernetes://%s/ports:%d", w.ns, w.fleet.Port()), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := c2.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		if err != nil || resp.GetBackend() != old.Name {
			t.Fatalf("by port number: %q, %v", resp.GetBackend(), err)
		}
	})

	t.Run("dual stack", func(t *testing.T) {
		w := newWorld(t, api, 2)
		bs := w.fleet.Backends()
		// bs[0] has both families, bs[1] only IPv6.
		apply(t, api.Client(), slice(w.ns, "dual", "dual-v4", discoveryv1.AddressTypeIPv4, w.ports(), ep{ip: w.docs.V4(bs[0].Addr), pod: bs[0].Name}))
		apply(t, api.Client(), slice(w.ns, "dual", "dual-v6", discoveryv1.AddressTypeIPv6, w.ports(),
			ep{ip: w.docs.V6(bs[0].Addr), pod: bs[0].Name}, ep{ip: w.docs.V6(bs[1].Addr), pod: bs[1].Name}))
		c := w.client(w.target("dual"), nil)
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
		c4 := w.client(w.target("dual")+"?family=ipv4", nil)
		resolvertest.WaitForSet(t, c4, resolvertest.Names(bs[0]), 10*time.Second)
	})

	t.Run("one watch per service", func(t *testing.T) {
		w := newWorld(t, api, 2)
		bs := w.fleet.Backends()
		w.put("shared", "shared-a", w.eps(bs[0])...)
		w.put("other", "other-a", w.eps(bs[1])...)
		b := NewBuilder(Options{Config: w.api.Config(), Logger: quiet})
		var ccs []*grpc.ClientConn
		for _, target := range []string{w.target("shared"), w.target("shared") + "?terminating=serve", fmt.Sprintf("kubernetes://%s/shared", w.ns), w.target("other")} {
			cc, err := grpc.NewClient(target, grpc.WithResolvers(b), grpc.WithContextDialer(w.docs.Dial),
				grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
			if err != nil {
				t.Fatal(err)
			}
			ccs = append(ccs, cc)
			cc.Connect()
		}
		resolvertest.Eventually(t, 10*time.Second, "two watches", func() bool { return b.Watches() == 2 })
		for i, cc := range ccs {
			want := bs[0]
			if i == 3 {
				want = bs[1]
			}
			resolvertest.WaitForSet(t, echopb.NewEchoClient(cc), resolvertest.Names(want), 10*time.Second)
		}
		for _, cc := range ccs {
			cc.Close()
		}
		if n := b.Watches(); n != 0 {
			t.Errorf("%d watches left after every ClientConn closed", n)
		}
	})

	t.Run("kubeconfig and its namespace", func(t *testing.T) {
		w := newWorld(t, api, 1)
		bs := w.fleet.Backends()
		w.put("kc", "kc-a", w.eps(bs...)...)
		path := api.WriteKubeconfig(t, api.AdminToken(), w.ns)
		c := w.client("kubernetes:///kc:grpc", NewBuilder(Options{Kubeconfig: path, Logger: quiet}))
		resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
	})
}

// waitUnavailable polls until a call fails fast with UNAVAILABLE and a
// message containing want.
func waitUnavailable(tb testing.TB, c echopb.EchoClient, want string) {
	tb.Helper()
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, last = c.Echo(ctx, &echopb.EchoRequest{})
		cancel()
		if status.Code(last) == codes.Unavailable && strings.Contains(last.Error(), want) {
			return
		}
	}
	tb.Fatalf("within 10s: no call failed with UNAVAILABLE and %q; last: %v", want, last)
}
