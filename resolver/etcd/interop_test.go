package etcd

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	etcdnaming "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	register "github.com/grpclb/grpclb/register/etcd"
)

// TestInteropSideBySide writes with etcd's endpoints.Manager (leased keys,
// metadata, transactions) and with grpclb's register/etcd, and checks that
// grpclb's resolver and etcd's stock resolver route to the same backends
// after every change.
func TestInteropSideBySide(t *testing.T) {
	w := newWorld(t, 4)
	bs := w.fleet.Backends()
	ctx := context.Background()
	cli := w.etcd.Client()
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	stockBuilder, err := etcdnaming.NewBuilder(w.etcd.NewClient(t))
	if err != nil {
		t.Fatal(err)
	}
	stock := newClient(t, "etcd:///"+w.prefix, grpc.WithResolvers(stockBuilder))
	ours := newClient(t, w.target(""), grpc.WithResolvers(w.builder()))
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target(""), cc)
	defer r.Close()

	var regs []*register.Registration
	steps := []struct {
		name   string
		change func(t *testing.T)
		want   []*testbed.Backend
	}{
		{"endpoints.Manager adds two, on a lease, with metadata", func(t *testing.T) {
			ups := []*endpoints.UpdateWithOpts{
				endpoints.NewAddUpdateOpts(w.prefix+"/"+bs[0].Addr, endpoints.Endpoint{Addr: bs[0].Addr, Metadata: map[string]string{"by": "manager"}}, clientv3.WithLease(lease.ID)),
				endpoints.NewAddUpdateOpts(w.prefix+"/"+bs[1].Addr, endpoints.Endpoint{Addr: bs[1].Addr}, clientv3.WithLease(lease.ID)),
			}
			if err := w.em.Update(ctx, ups); err != nil {
				t.Fatal(err)
			}
		}, bs[:2]},
		{"register/etcd adds two", func(t *testing.T) {
			for _, b := range bs[2:] {
				reg, err := register.Register(ctx, cli, w.prefix, b.Addr, register.WithLogger(w.logs.Logger()), register.WithMetadata(map[string]string{"by": "register"}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(reg.Stop)
				regs = append(regs, reg)
			}
		}, bs},
		{"endpoints.Manager deletes one of register/etcd's", func(t *testing.T) {
			if err := w.em.DeleteEndpoint(ctx, regs[0].Key()); err != nil {
				t.Fatal(err)
			}
		}, []*testbed.Backend{bs[0], bs[1], bs[3]}},
		{"register/etcd deregisters the other", func(t *testing.T) {
			if err := regs[1].Deregister(ctx); err != nil {
				t.Fatal(err)
			}
		}, bs[:2]},
		{"the lease of endpoints.Manager's keys is revoked", func(t *testing.T) {
			// Both of its keys go at once; add one with register/etcd in
			// the same breath, so the set is never empty.
			reg, err := register.Register(ctx, cli, w.prefix, bs[3].Addr, register.WithLogger(w.logs.Logger()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(reg.Stop)
			if _, err := cli.Revoke(ctx, lease.ID); err != nil {
				t.Fatal(err)
			}
		}, bs[3:]},
	}
	for _, s := range steps {
		s.change(t)
		resolvertest.WaitForSet(t, ours, resolvertest.Names(s.want...), 10*time.Second)
		resolvertest.WaitForSet(t, stock, resolvertest.Names(s.want...), 10*time.Second)
		st := cc.WaitForState(t, resolvertest.HasAddrs(addrs(s.want...)...))
		// The metadata written by either side reaches balancers.
		for _, ep := range st.Endpoints {
			md := metadataOf(t, ep)
			switch ep.Addresses[0].Addr {
			case bs[0].Addr:
				if md["by"] != "manager" {
					t.Errorf("%s: %s: metadata %v", s.name, bs[0].Addr, md)
				}
			case bs[2].Addr:
				if md["by"] != "register" {
					t.Errorf("%s: %s: metadata %v", s.name, bs[2].Addr, md)
				}
			}
		}
		t.Logf("%s: both resolvers route to %v", s.name, resolvertest.Names(s.want...))
	}
}

// TestEtcdRebuiltWithoutItsData: etcd comes back empty, its revision far
// behind what the resolver saw. The client's own watch would wait for that
// revision; the resolver notices the rewind and reads the prefix again.
func TestEtcdRebuiltWithoutItsData(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	w.add(t, bs[0].Addr, bs[1].Addr)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target("max_backoff=200ms"), cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr))
	// Writes under the prefix (of a value the resolver skips) move the
	// revision the resolver has seen on.
	for i := range 30 {
		w.put(t, w.prefix+"/not-an-instance", fmt.Sprint(i))
	}
	resolvertest.Eventually(t, 10*time.Second, "the writes were not seen", func() bool { return w.logs.Count("not-an-instance") >= 30 })
	w.etcd.Kill()
	w.etcd.Wipe()
	w.etcd.Restart()
	w.add(t, bs[2].Addr)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[2].Addr))
	if w.logs.Count("revision went back") == 0 {
		t.Error("the rewind was not logged")
	}
	// And the watch follows the new store.
	w.add(t, bs[0].Addr)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[2].Addr))
	if states, _ := cc.Snapshot(); slices.ContainsFunc(states, func(s resolver.State) bool { return len(s.Endpoints) == 0 }) {
		t.Error("an empty set was published")
	}
}
