package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	etcdnaming "go.etcd.io/etcd/client/v3/naming/resolver"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	etcdresolver "github.com/grpclb/grpclb/resolver/etcd"
	"github.com/grpclb/grpclb/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const prefix = "service/echo"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// register registers addr with test defaults (a short TTL, quiet logs) and
// stops the registration at the end of the test.
func register(t *testing.T, c *clientv3.Client, addr string, opts ...Option) *Registration {
	t.Helper()
	opts = append([]Option{WithLogger(quiet)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Register(ctx, c, prefix, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// newClient dials the prefix through grpclb's etcd resolver.
func newClient(t *testing.T, e *etcdtest.Server) echopb.EchoClient {
	t.Helper()
	return resolvertest.RoundRobinClient(t, fmt.Sprintf("etcd://%s/%s?max_backoff=500ms", e.Endpoint(), prefix),
		grpc.WithResolvers(etcdresolver.NewBuilder(etcdresolver.Options{Logger: quiet})))
}

// keyLease returns the lease a key is attached to, or false when the key
// does not exist.
func keyLease(t *testing.T, c *clientv3.Client, key string) (clientv3.LeaseID, bool) {
	t.Helper()
	resp, err := c.Get(testbed.Context(t, 5*time.Second), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease), true
}

func startFleet(t *testing.T, n int) []*testbed.Backend {
	return balancertest.StartFleet(t, n).Backends()
}

func TestRegisterAndDeregisterSeenByClient(t *testing.T) {
	e := etcdtest.Start(t)
	bs := startFleet(t, 3)
	var regs []*Registration
	for _, b := range bs {
		regs = append(regs, register(t, e.Client(), b.Addr))
	}
	c := newClient(t, e)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	// Deregistration is seen at once, not after the 10s TTL.
	if err := regs[0].Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1:]...), 10*time.Second); d > 2*time.Second {
		t.Errorf("deregistration took %v to reach the client", d)
	}
	if _, ok := keyLease(t, e.Client(), regs[0].Key()); ok {
		t.Error("the key is still there after Deregister")
	}
	ctx := context.Background()
	if ttl, err := e.Client().TimeToLive(ctx, regs[0].Lease()); err != nil || ttl.TTL != -1 {
		t.Errorf("lease after Deregister: TTL %v, %v; want revoked (-1)", ttl.TTL, err)
	}
	// Deregister twice is fine; registering again is seen.
	if err := regs[0].Deregister(ctx); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
	register(t, e.Client(), bs[0].Addr)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
}

func TestValueIsWhatEndpointsManagerWrites(t *testing.T) {
	e := etcdtest.Start(t)
	c := e.Client()
	ctx := context.Background()
	md := map[string]any{"zone": "eu-1a", "weight": 5}
	r := register(t, c, "10.1.2.3:50051", WithMetadata(md), WithTTL(7*time.Second))
	if r.Key() != prefix+"/10.1.2.3:50051" {
		t.Errorf("key %q", r.Key())
	}
	ours, err := c.Get(ctx, r.Key())
	if err != nil || len(ours.Kvs) != 1 {
		t.Fatalf("get: %v, %v", ours, err)
	}
	// etcd's own manager writes the same endpoint under another key.
	em, _ := endpoints.NewManager(c, "stock")
	if err := em.AddEndpoint(ctx, "stock/10.1.2.3:50051", endpoints.Endpoint{Addr: "10.1.2.3:50051", Metadata: md}); err != nil {
		t.Fatal(err)
	}
	stock, err := c.Get(ctx, "stock/10.1.2.3:50051")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(ours.Kvs[0].Value), string(stock.Kvs[0].Value); got != want {
		t.Errorf("value\n  %s\nendpoints.Manager writes\n  %s", got, want)
	}
	if want := `{"Op":0,"Addr":"10.1.2.3:50051","Metadata":{"weight":5,"zone":"eu-1a"}}`; string(ours.Kvs[0].Value) != want {
		t.Errorf("value %s, want %s", ours.Kvs[0].Value, want)
	}
	// And etcd's manager reads it back.
	list, err := (func() (endpoints.Key2EndpointMap, error) {
		em, _ := endpoints.NewManager(c, prefix)
		return em.List(ctx)
	})()
	if err != nil || list[r.Key()].Addr != "10.1.2.3:50051" {
		t.Errorf("endpoints.Manager.List: %v, %v", list, err)
	}
	// The key is on the lease, whose TTL is ours.
	if l := clientv3.LeaseID(ours.Kvs[0].Lease); l != r.Lease() || l == 0 {
		t.Errorf("key on lease %x, registration has %x", int64(l), int64(r.Lease()))
	}
	ttl, err := c.TimeToLive(ctx, r.Lease(), clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL != 7 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != r.Key() {
		t.Errorf("lease: %+v, %v", ttl, err)
	}
}

func TestLeaseExpiryRemovesAnInstance(t *testing.T) {
	e := etcdtest.Start(t)
	bs := startFleet(t, 2)
	const ttl = 2 * time.Second
	keep := register(t, e.Client(), bs[0].Addr, WithTTL(ttl))
	gone := register(t, e.Client(), bs[1].Addr, WithTTL(ttl))
	c := newClient(t, e)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	// Kept alive well past the TTL.
	start := time.Now()
	wait.For(t, 3*ttl, "", func() bool { return time.Since(start) > 2*ttl })
	if _, ok := keyLease(t, e.Client(), gone.Key()); !ok {
		t.Fatal("the key expired although its lease was kept alive")
	}
	// The process "crashes": the keep-alive stops, nobody deregisters.
	gone.Stop()
	stopped := time.Now()
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0]), 3*ttl)
	d := time.Since(stopped)
	// etcd checks expiry every 500ms; allow that and some scheduling.
	if d > ttl+1500*time.Millisecond {
		t.Errorf("instance left %v after its keep-alive stopped, TTL %v", d, ttl)
	}
	if _, ok := keyLease(t, e.Client(), keep.Key()); !ok {
		t.Error("the other instance's key expired too")
	}
	t.Logf("instance gone %v after its keep-alive stopped (TTL %v)", d.Round(time.Millisecond), ttl)
}

func TestReRegistersWhenTheLeaseIsLost(t *testing.T) {
	const ttl = 2 * time.Second
	tests := []struct {
		name string
		lose func(t *testing.T, e *etcdtest.Server, r *Registration)
	}{
		{"lease revoked", func(t *testing.T, e *etcdtest.Server, r *Registration) {
			if _, err := e.Client().Revoke(context.Background(), r.Lease()); err != nil {
				t.Fatal(err)
			}
		}},
		{"etcd rebuilt without its data", func(t *testing.T, e *etcdtest.Server, _ *Registration) {
			e.Kill()
			e.Wipe()
			e.Restart()
		}},
		{"etcd down for longer than the TTL", func(t *testing.T, e *etcdtest.Server, _ *Registration) {
			e.Stop()
			down := time.Now()
			wait.For(t, 10*time.Second, "", func() bool { return time.Since(down) > 2*ttl })
			e.Restart()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := etcdtest.Start(t)
			bs := startFleet(t, 2)
			// The registering server has its own client, as it would.
			rc := e.NewClient(t)
			r := register(t, rc, bs[0].Addr, WithTTL(ttl), WithMaxBackoff(500*time.Millisecond))
			r2 := register(t, rc, bs[1].Addr, WithTTL(ttl), WithMaxBackoff(500*time.Millisecond))
			c := newClient(t, e)
			resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
			first := r.Lease()
			// Writes the resolver sees (a key it skips) move etcd's
			// revision on, so that a rebuilt etcd starts far behind what
			// the resolver has seen.
			for i := range 20 {
				if _, err := e.Client().Put(context.Background(), prefix+"/not-an-instance", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}

			tt.lose(t, e, r)
			wait.For(t, 20*time.Second, "never registered again", func() bool { return r.Registrations() >= 2 })
			if r.Lease() == first {
				t.Error("registered again on the same lease")
			}
			// Registered for good: the key is on the new lease and
			// survives two more TTLs.
			wait.For(t, 10*time.Second, "the key is not on the new lease", func() bool {
				l, ok := keyLease(t, e.Client(), r.Key())
				return ok && l == r.Lease()
			})
			start := time.Now()
			wait.For(t, 3*ttl, "", func() bool { return time.Since(start) > 2*ttl })
			if l, ok := keyLease(t, e.Client(), r.Key()); !ok || l != r.Lease() {
				t.Fatalf("two TTLs later: key present %v on lease %x, registration's lease %x", ok, int64(l), int64(r.Lease()))
			}
			resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
			// The client still follows changes.
			if err := r2.Deregister(context.Background()); err != nil {
				t.Fatal(err)
			}
			resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0]), 10*time.Second)
			// The old lease was revoked, or is gone with the old data.
			if ttl, err := e.Client().TimeToLive(context.Background(), first); err != nil || ttl.TTL != -1 {
				t.Errorf("old lease: TTL %d, %v; want gone", ttl.TTL, err)
			}
		})
	}
}

// stopper lets server.Drain stop a testbed backend, and checks that the
// instance was deregistered before the server stopped.
type stopper struct {
	t        *testing.T
	b        *testbed.Backend
	etcd     *clientv3.Client
	key      string
	keyThere atomic.Bool
}

func (s *stopper) GracefulStop() {
	_, ok := keyLease(s.t, s.etcd, s.key)
	s.keyThere.Store(ok)
	s.b.Stop()
}

func (s *stopper) Stop() { s.b.Kill() }

func TestDeregisterAsDrainHook(t *testing.T) {
	e := etcdtest.Start(t)
	bs := startFleet(t, 2)
	r := register(t, e.Client(), bs[0].Addr)
	register(t, e.Client(), bs[1].Addr)
	c := newClient(t, e)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	load := resolvertest.StartLoad(c, 4)
	s := &stopper{t: t, b: bs[0], etcd: e.Client(), key: r.Key()}
	err := server.Drain(context.Background(), s, server.DrainConfig{
		OnNotServing: []func(context.Context) error{r.Deregister},
		Grace:        500 * time.Millisecond,
		Timeout:      5 * time.Second,
		Logger:       quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := testbed.Tally(c, 20, 2*time.Second)
	ok, failed := load.Finish()
	if s.keyThere.Load() {
		t.Error("the key was still in etcd when the server began to stop")
	}
	if failed != 0 {
		t.Errorf("%d of %d calls failed during the drain (first: %v)", failed, ok+failed, load.FirstError())
	}
	if !slices.Equal(resolvertest.SortedKeys(got), resolvertest.Names(bs[1])) {
		t.Errorf("after the drain calls went to %v", got)
	}
}

func TestRegisterRejects(t *testing.T) {
	e := etcdtest.Start(t)
	tests := []struct {
		name   string
		client *clientv3.Client
		prefix string
		addr   string
		opts   []Option
		want   string
	}{
		{"nil client", nil, prefix, "10.0.0.1:1", nil, "nil etcd client"},
		{"empty prefix", e.Client(), "", "10.0.0.1:1", nil, "empty prefix"},
		{"prefix ends with a slash", e.Client(), "svc/", "10.0.0.1:1", nil, "ends with '/'"},
		{"empty segment", e.Client(), "a//b", "10.0.0.1:1", nil, "empty path segment"},
		{"no port", e.Client(), prefix, "10.0.0.1", nil, "not host:port"},
		{"port 0", e.Client(), prefix, "10.0.0.1:0", nil, `port "0"`},
		{"empty host", e.Client(), prefix, ":50051", nil, "empty or invalid host"},
		{"space in host", e.Client(), prefix, "a b:1", nil, "empty or invalid host"},
		{"TTL below 1s", e.Client(), prefix, "10.0.0.1:1", []Option{WithTTL(500 * time.Millisecond)}, "below 1s"},
		{"zero timeout", e.Client(), prefix, "10.0.0.1:1", []Option{WithTimeout(0)}, "timeout"},
		{"tiny backoff", e.Client(), prefix, "10.0.0.1:1", []Option{WithMaxBackoff(time.Millisecond)}, "max backoff"},
		{"metadata not JSON", e.Client(), prefix, "10.0.0.1:1", []Option{WithMetadata(math.Inf(1))}, "metadata does not marshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Register(context.Background(), tt.client, tt.prefix, tt.addr, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if r != nil {
				t.Error("a Registration came with the error")
			}
		})
	}
	// Nothing was written.
	resp, err := e.Client().Get(context.Background(), "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Errorf("%d keys written by rejected registrations (%v)", resp.Count, err)
	}
}

func TestRegisterFailsWhileEtcdIsDown(t *testing.T) {
	e := etcdtest.Start(t)
	e.Stop()
	ignore := goleak.IgnoreCurrent()
	c, err := clientv3.New(etcdtest.ClientConfig(e.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Register(ctx, c, prefix, "10.0.0.1:1", WithLogger(quiet))
	if err == nil || r != nil {
		t.Fatalf("Register with etcd down: %v, %v", r, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Register took %v to give up with a 300ms context", d)
	}
	c.Close()
	goleak.VerifyNone(t, ignore) // nothing left behind but what the client owned
}

func TestDeregisterWhileEtcdIsDown(t *testing.T) {
	e := etcdtest.Start(t)
	r := register(t, e.Client(), "10.0.0.1:1", WithTTL(2*time.Second), WithTimeout(300*time.Millisecond))
	e.Stop()
	start := time.Now()
	if err := r.Deregister(context.Background()); err == nil || !strings.Contains(err.Error(), r.Key()) {
		t.Errorf("Deregister with etcd down: %v, want an error naming the key", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Deregister took %v with a 300ms timeout", d)
	}
	// etcd comes back: the lease, no longer kept alive, expires; a second
	// Deregister cleans up at once anyway.
	e.Restart()
	if err := r.Deregister(context.Background()); err != nil {
		t.Errorf("Deregister after etcd came back: %v", err)
	}
	if _, ok := keyLease(t, e.Client(), r.Key()); ok {
		t.Error("key still there")
	}
}

func TestInteropWithEtcdsResolver(t *testing.T) {
	e := etcdtest.Start(t)
	all := startFleet(t, 4)
	bs, more := all[:3], all[3:]
	for _, b := range bs {
		register(t, e.Client(), b.Addr, WithMetadata(map[string]string{"name": b.Name}))
	}
	// etcd's own resolver, with its own client, reads what Register wrote.
	stockBuilder, err := etcdnaming.NewBuilder(e.NewClient(t))
	if err != nil {
		t.Fatal(err)
	}
	stock := resolvertest.RoundRobinClient(t, "etcd:///"+prefix, grpc.WithResolvers(stockBuilder))
	resolvertest.WaitForSet(t, stock, resolvertest.Names(bs...), 10*time.Second)
	// A new registration is followed too.
	register(t, e.Client(), more[0].Addr)
	resolvertest.WaitForSet(t, stock, resolvertest.Names(all...), 10*time.Second)
}

func TestMetadataReachesTheResolver(t *testing.T) {
	e := etcdtest.Start(t)
	type meta struct {
		Zone   string
		Weight int
	}
	r := register(t, e.Client(), "10.9.8.7:6543", WithMetadata(meta{"eu-1b", 4}))
	resp, err := e.Client().Get(context.Background(), r.Key())
	if err != nil {
		t.Fatal(err)
	}
	// What the resolver hands balancers, decoded as the docs say.
	var v struct{ Metadata json.RawMessage }
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		t.Fatal(err)
	}
	var got meta
	if err := json.Unmarshal(v.Metadata, &got); err != nil || got != (meta{"eu-1b", 4}) {
		t.Errorf("metadata %+v, %v", got, err)
	}
}
