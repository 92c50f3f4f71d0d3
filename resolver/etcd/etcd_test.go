package etcd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
)

func TestRegisterAndDeregisterSeenByClient(t *testing.T) {
	w := newWorld(t, 4)
	bs := w.fleet.Backends()
	c := resolvertest.RoundRobinClient(t, w.target(""), grpc.WithResolvers(w.builder()))
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target(""), cc)
	defer r.Close()

	steps := []struct {
		name string
		add  []*testbed.Backend
		del  []*testbed.Backend
		want []*testbed.Backend
	}{
		{"first two", bs[:2], nil, bs[:2]},
		{"scale up", bs[2:], nil, bs},
		{"scale down", nil, []*testbed.Backend{bs[0], bs[3]}, bs[1:3]},
		{"replace", []*testbed.Backend{bs[0]}, []*testbed.Backend{bs[1]}, []*testbed.Backend{bs[0], bs[2]}},
		{"down to one", nil, []*testbed.Backend{bs[2]}, bs[:1]},
	}
	for _, s := range steps {
		// Each step is one transaction, as a deploy tool would write it.
		var ups []*endpoints.UpdateWithOpts
		for _, b := range s.add {
			ups = append(ups, endpoints.NewAddUpdateOpts(w.prefix+"/"+b.Addr, endpoints.Endpoint{Addr: b.Addr}))
		}
		for _, b := range s.del {
			ups = append(ups, endpoints.NewDeleteUpdateOpts(w.prefix+"/"+b.Addr))
		}
		if err := w.em.Update(context.Background(), ups); err != nil {
			t.Fatal(err)
		}
		resolvertest.WaitForSet(t, c, resolvertest.Names(s.want...), 10*time.Second)
		cc.WaitForState(t, resolvertest.HasAddrs(resolvertest.Addrs(s.want...)...))
		t.Logf("%s: calls reach %v", s.name, resolvertest.Names(s.want...))
	}
	// Every published state was a full set: never a delta, never empty.
	states, errs := cc.Snapshot()
	if len(errs) > 1 {
		// One "no instance registered" error is expected before the first step.
		t.Errorf("errors reported: %v", errs)
	}
	for i, s := range states {
		if len(s.Endpoints) == 0 || len(s.Endpoints) != len(s.Addresses) {
			t.Errorf("state %d has %d endpoints and %d addresses", i, len(s.Endpoints), len(s.Addresses))
		}
	}
}

func TestMetadataIsAnEndpointAttribute(t *testing.T) {
	w := newWorld(t, 2)
	a, b := w.fleet.Addrs()[0], w.fleet.Addrs()[1]
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target(""), cc)
	defer r.Close()
	ctx := context.Background()
	if err := w.em.AddEndpoint(ctx, w.prefix+"/"+a, endpoints.Endpoint{Addr: a, Metadata: map[string]any{"zone": "a", "weight": 3}}); err != nil {
		t.Fatal(err)
	}
	w.add(t, b)
	st := cc.WaitForState(t, resolvertest.HasAddrs(a, b))
	for _, ep := range st.Endpoints {
		inst, _ := InstanceFromEndpoint(ep)
		md := metadataOf(t, ep)
		switch ep.Addresses[0].Addr {
		case a:
			if md["zone"] != "a" || md["weight"] != 3.0 || inst.Key != w.prefix+"/"+a {
				t.Errorf("%s: instance %+v, metadata %v", a, inst, md)
			}
		case b:
			if md != nil {
				t.Errorf("%s: metadata %v, want none", b, md)
			}
		}
	}
	// A change of metadata alone is published.
	if err := w.em.AddEndpoint(ctx, w.prefix+"/"+a, endpoints.Endpoint{Addr: a, Metadata: map[string]any{"zone": "b"}}); err != nil {
		t.Fatal(err)
	}
	cc.WaitForState(t, func(s resolver.State) bool {
		return len(s.Endpoints) == 2 && s.Endpoints[0].Addresses[0].Addr == a && metadataOf(t, s.Endpoints[0])["zone"] == "b"
	})
	// Putting the same value again is not a change: no new state.
	n := len(must(cc.Snapshot()))
	if err := w.em.AddEndpoint(ctx, w.prefix+"/"+a, endpoints.Endpoint{Addr: a, Metadata: map[string]any{"zone": "b"}}); err != nil {
		t.Fatal(err)
	}
	w.add(t, b)
	w.del(t, "unrelated") // an event for a key that does not exist
	w.put(t, "service/echo-other/x", `{"Addr":"10.0.0.9:1"}`)
	w.add(t, w.fleet.Addrs()[0]+"x") // a bad value: skipped, still no change
	w.del(t, w.fleet.Addrs()[0]+"x")
	// Wait for the resolver to have seen all of that: a sentinel change.
	c := w.fleet.Addrs()[1]
	w.del(t, c)
	cc.WaitForState(t, resolvertest.HasAddrs(a))
	if got := len(must(cc.Snapshot())); got != n+1 {
		t.Errorf("%d states published for writes that changed nothing and one change; want 1", got-n)
	}
}

func must[T any](v T, _ ...any) T { return v }

// registryOutage is how long etcd stays away under load.
const registryOutage = 20 * time.Second

func TestEtcdDownUnderLoad(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	w.add(t, w.fleet.Addrs()...)
	c := resolvertest.RoundRobinClient(t, w.target("max_backoff=500ms"), grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
	// A second resolver, watched directly: it must neither publish nor
	// report an error while etcd is down.
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target("max_backoff=500ms"), cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))

	l := resolvertest.StartLoad(c, 4)
	w.etcd.Stop()
	// Stay down for 20s (the figure) while the load runs, and make
	// sure it did run.
	downSince := time.Now()
	before := l.OK()
	resolvertest.Eventually(t, registryOutage+20*time.Second, "no calls while etcd was down", func() bool {
		return time.Since(downSince) > registryOutage && l.OK() > before+100
	})
	seen, _ := testbed.Tally(c, 30, 2*time.Second)
	w.etcd.Restart()
	ok := resolvertest.CheckOutage(t, "etcd", l, seen, 3, cc)
	// After the restart, changes are seen again.
	w.del(t, bs[0].Addr)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1:]...), 15*time.Second)
	cc.WaitForState(t, resolvertest.HasAddrs(resolvertest.Addrs(bs[1:]...)...))
	t.Logf("%d calls during the outage, none failed; change after restart seen", ok)
}

func TestCompactionWhileDisconnected(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	proxy := etcdtest.StartProxy(t, w.etcd.Endpoint())
	target := fmt.Sprintf("etcd://%s/%s?max_backoff=200ms", proxy.Endpoint(), w.prefix)
	w.add(t, bs[0].Addr, bs[1].Addr)
	c := resolvertest.RoundRobinClient(t, target, grpc.WithResolvers(w.builder()))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[:2]...), 10*time.Second)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), target, cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr))

	proxy.Cut()
	// While the resolvers are cut off: b1 leaves, b3 joins, other keys
	// churn, and the history of all of it is compacted away.
	w.del(t, bs[0].Addr)
	w.add(t, bs[2].Addr)
	for i := range 20 {
		w.put(t, fmt.Sprintf("%s/churn-%d", w.prefix, i), "garbage")
	}
	for i := range 20 {
		if _, err := w.etcd.Client().Delete(context.Background(), fmt.Sprintf("%s/churn-%d", w.prefix, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.etcd.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if states, _ := cc.Snapshot(); len(states) != 1 {
		t.Fatalf("%d states published while disconnected", len(states))
	}
	proxy.Restore()
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1:]...), 15*time.Second)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[1].Addr, bs[2].Addr))
	if w.logs.Count("compacted") == 0 {
		t.Errorf("the resolvers never logged a compaction; logs:\n%s", strings.Join(w.logs.Lines(), "\n"))
	}
	// And the watch works after the re-read.
	w.add(t, bs[0].Addr)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
}

func TestBadValuesAreSkipped(t *testing.T) {
	w := newWorld(t, 2)
	good := w.fleet.Addrs()
	bad := []struct {
		key, value, why string
	}{
		{"garbage", `not json at all`, "not the JSON"},
		{"empty-addr", `{"Op":0,"Addr":"","Metadata":null}`, "empty address"},
		{"no-port", `{"Op":0,"Addr":"10.0.0.1"}`, "not host:port"},
		{"bad-port", `{"Op":0,"Addr":"10.0.0.1:99999"}`, "port \"99999\""},
		{"zero-port", `{"Op":0,"Addr":"10.0.0.1:0"}`, "port \"0\""},
		{"truncated", `{"Op":0,"Addr":"10.0.0.1:5`, "not the JSON"},
		{"delete-op", `{"Op":1,"Addr":"10.0.0.1:50051"}`, "Op 1"},
		{"empty", ``, "not the JSON"},
		{"duplicate", fmt.Sprintf(`{"Op":0,"Addr":%q}`, good[0]), "duplicate"},
	}
	// Half the bad values are there before the resolver starts (read by
	// its Get), half arrive by its watch.
	put := func(from, to int) {
		for _, b := range bad[from:to] {
			w.put(t, w.prefix+"/"+b.key, b.value)
		}
	}
	w.add(t, good[0])
	put(0, len(bad)/2)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target(""), cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(good[0]))
	put(len(bad)/2, len(bad))
	w.add(t, good[1])
	cc.WaitForState(t, resolvertest.HasAddrs(good...))
	// The set never held a bad value, and each was logged once, by key.
	states, _ := cc.Snapshot()
	for _, s := range states {
		for _, a := range resolvertest.StateAddrs(s) {
			if !slices.Contains(good, a) {
				t.Errorf("published a bad address %q", a)
			}
		}
	}
	for _, b := range bad {
		if n := w.logs.Count("key="+w.prefix+"/"+b.key+" ", b.why); n != 1 {
			t.Errorf("value %q under %q: logged %d times naming the key and %q, want once", b.value, b.key, n, b.why)
		}
	}
	// A fixed value is used.
	w.put(t, w.prefix+"/no-port", fmt.Sprintf(`{"Addr":%q}`, good[1]))  // a duplicate now
	w.put(t, w.prefix+"/garbage", `{"Addr":"[::ffff:127.0.0.1]:0001"}`) // valid, canonical 127.0.0.1:1
	cc.WaitForState(t, resolvertest.HasAddrs(append([]string{"127.0.0.1:1"}, good...)...))
}

func TestEmptyPrefix(t *testing.T) {
	t.Run("before any instance: an error, then recovery", func(t *testing.T) {
		w := newWorld(t, 1)
		cc := &resolvertest.RecordingCC{}
		r := resolvertest.Build(t, w.builder(), w.target(""), cc)
		defer r.Close()
		resolvertest.Eventually(t, 10*time.Second, "no error reported for an empty prefix", func() bool {
			_, errs := cc.Snapshot()
			return len(errs) > 0
		})
		if _, errs := cc.Snapshot(); !strings.Contains(errs[0].Error(), `no instance registered under "service/echo/"`) {
			t.Errorf("error %q does not name the prefix", errs[0])
		}
		w.add(t, w.fleet.Addrs()...)
		cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
	})
	t.Run("kept by default", func(t *testing.T) {
		w := newWorld(t, 2)
		w.add(t, w.fleet.Addrs()...)
		c := resolvertest.RoundRobinClient(t, w.target(""), grpc.WithResolvers(w.builder()))
		resolvertest.WaitForSet(t, c, resolvertest.Names(w.fleet.Backends()...), 10*time.Second)
		cc := &resolvertest.RecordingCC{}
		r := resolvertest.Build(t, w.builder(), w.target(""), cc)
		defer r.Close()
		cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
		w.del(t, w.fleet.Addrs()...)
		resolvertest.Eventually(t, 10*time.Second, "the empty prefix was not noticed", func() bool {
			return w.logs.Count("keeping the last good set", "no instance registered under") >= 2
		})
		if got, failed := testbed.Tally(c, 20, 2*time.Second); failed != 0 || len(got) != 2 {
			t.Fatalf("after every key was deleted: %v, %d failed; want the last good set kept", got, failed)
		}
		if states, errs := cc.Snapshot(); len(states) != 1 || len(errs) != 0 {
			t.Errorf("%d states and errors %v after the prefix emptied; want no change", len(states), errs)
		}
		// A new instance replaces the kept set.
		w.add(t, w.fleet.Addrs()[1])
		resolvertest.WaitForSet(t, c, resolvertest.Names(w.fleet.Backends()[1]), 10*time.Second)
	})
	t.Run("published when asked", func(t *testing.T) {
		w := newWorld(t, 2)
		w.add(t, w.fleet.Addrs()...)
		cc := &resolvertest.RecordingCC{}
		r := resolvertest.Build(t, w.builder(), w.target("empty=publish"), cc)
		defer r.Close()
		cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
		w.del(t, w.fleet.Addrs()...)
		cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 0 && len(s.Addresses) == 0 })
		w.add(t, w.fleet.Addrs()[1])
		cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()[1]))
	})
}

func TestUnreachableEtcdReportsAnError(t *testing.T) {
	w := newWorld(t, 1)
	proxy := etcdtest.StartProxy(t, w.etcd.Endpoint())
	proxy.Cut()
	w.add(t, w.fleet.Addrs()...)
	cc := &resolvertest.RecordingCC{}
	target := fmt.Sprintf("etcd://%s/%s?timeout=200ms&dial_timeout=200ms&max_backoff=200ms", proxy.Endpoint(), w.prefix)
	r := resolvertest.Build(t, w.builder(), target, cc)
	defer r.Close()
	resolvertest.Eventually(t, 10*time.Second, "no error reported while etcd is unreachable", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) > 0
	})
	if _, errs := cc.Snapshot(); !strings.Contains(errs[0].Error(), proxy.Endpoint()) || !strings.Contains(errs[0].Error(), w.prefix) {
		t.Errorf("error %q names neither the endpoint nor the prefix", errs[0])
	}
	proxy.Restore()
	cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
}

// An etcd that refuses connections is reported at once, with the dial's
// own words, not as a deadline exceeded after the read timeout (a minute
// here, so the test cannot pass by waiting it out).
func TestRefusedConnectionReportedAtOnce(t *testing.T) {
	w := newWorld(t, 1)
	closed := testbed.RefusingAddr(t)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), fmt.Sprintf("etcd://%s/%s?timeout=1m", closed, w.prefix), cc)
	defer r.Close()
	resolvertest.Eventually(t, 10*time.Second, "the refused connection reported", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) > 0
	})
	_, errs := cc.Snapshot()
	if msg := errs[0].Error(); !strings.Contains(msg, "connection refused") || !strings.Contains(msg, closed) || !strings.Contains(msg, w.prefix) {
		t.Errorf("error %q: want the endpoint, the prefix and \"connection refused\"", msg)
	}
}

func TestEndpointsFromTheEnvironment(t *testing.T) {
	w := newWorld(t, 1)
	t.Setenv(EnvEndpoints, "http://"+w.etcd.Endpoint())
	w.add(t, w.fleet.Addrs()...)
	c := resolvertest.RoundRobinClient(t, "etcd:///"+w.prefix)
	resolvertest.WaitForSet(t, c, resolvertest.Names(w.fleet.Backends()...), 10*time.Second)
}

func TestSharedClient(t *testing.T) {
	w := newWorld(t, 2)
	w.add(t, w.fleet.Addrs()...)
	shared := w.newQuietClient(t)
	b := NewBuilder(Options{Client: shared, Logger: w.logs.Logger()})
	for range 3 {
		cc := &resolvertest.RecordingCC{}
		r := resolvertest.Build(t, b, "etcd:///"+w.prefix, cc)
		cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
		r.Close()
	}
	// The resolvers did not close the shared client.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := shared.Get(ctx, "x"); err != nil {
		t.Fatalf("the shared client no longer works: %v", err)
	}
	// Closed under a resolver, the shared client is reported (the set is
	// kept) and the resolver still closes cleanly.
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, b, "etcd:///"+w.prefix, cc)
	cc.WaitForState(t, resolvertest.HasAddrs(w.fleet.Addrs()...))
	shared.Close()
	resolvertest.Eventually(t, 10*time.Second, "the closed client was not noticed", func() bool {
		return w.logs.Count("keeping the last good set", "Options.Client) was closed") > 0
	})
	r.Close()
	if states, errs := cc.Snapshot(); len(states) != 1 || len(errs) != 0 {
		t.Errorf("%d states, errors %v; want the set kept", len(states), errs)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	w := newWorld(t, 1)
	w.add(t, w.fleet.Addrs()...)
	proxy := etcdtest.StartProxy(t, w.etcd.Endpoint())
	b := w.builder()
	tests := []struct {
		name   string
		target string
		ready  func(*resolvertest.RecordingCC) bool
	}{
		{"watching", w.target(""), func(cc *resolvertest.RecordingCC) bool { s, _ := cc.Snapshot(); return len(s) > 0 }},
		{"a read in flight to an unreachable etcd", fmt.Sprintf("etcd://%s/%s?timeout=1m", proxy.Endpoint(), w.prefix), nil},
		{"endpoints nobody listens on", "etcd://127.0.0.1:1/svc?timeout=1m", nil},
	}
	proxy.Cut()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			cc := &resolvertest.RecordingCC{}
			r := resolvertest.Build(t, b, tt.target, cc)
			if tt.ready != nil {
				resolvertest.Eventually(t, 10*time.Second, "resolver not ready", func() bool { return tt.ready(cc) })
			}
			start := time.Now()
			r.Close()
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v", d)
			}
			goleak.VerifyNone(t, ignore)
		})
	}
}

func TestBuildRejectsBadTargets(t *testing.T) {
	for _, target := range []string{"etcd://h:1/svc/", "etcd://h:1/svc?nope=1", "etcd://h:1"} {
		u := mustParse(t, target)
		_, err := NewBuilder(Options{}).Build(resolver.Target{URL: *u}, &resolvertest.RecordingCC{}, resolver.BuildOptions{})
		if err == nil || !strings.Contains(err.Error(), target) {
			t.Errorf("%s: error %v, want one naming the target", target, err)
		}
	}
}

func TestLeasedKeysExpire(t *testing.T) {
	w := newWorld(t, 2)
	a, b := w.fleet.Addrs()[0], w.fleet.Addrs()[1]
	w.add(t, a)
	cli := w.etcd.Client()
	ctx := context.Background()
	g, err := cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.em.AddEndpoint(ctx, w.prefix+"/"+b, endpoints.Endpoint{Addr: b}, clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target(""), cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(a, b))
	start := time.Now()
	cc.WaitForState(t, resolvertest.HasAddrs(a)) // nobody keeps the lease alive
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a key on a 2s lease disappeared after %v", d)
	}
}
