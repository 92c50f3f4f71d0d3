package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	etcdnaming "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	etcdresolver "github.com/grpclb/grpclb/resolver/etcd"
)

// TestInteropSideBySide writes with etcd's endpoints.Manager (leased keys,
// metadata, transactions) and with grpclb's register/etcd, and checks that
// grpclb's resolver and etcd's stock resolver route to the same backends
// after every change.
func TestInteropSideBySide(t *testing.T) {
	e := etcdtest.Start(t)
	bs := startFleet(t, 4)
	logs := resolvertest.NewLogRecorder(t)
	ctx := context.Background()
	cli := e.Client()
	em, err := endpoints.NewManager(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	stockBuilder, err := etcdnaming.NewBuilder(e.NewClient(t))
	if err != nil {
		t.Fatal(err)
	}
	// grpclb's resolver, its logs kept to be printed if the test fails.
	target := fmt.Sprintf("etcd://%s/%s", e.Endpoint(), prefix)
	builder := func() resolver.Builder { return etcdresolver.NewBuilder(etcdresolver.Options{Logger: logs.Logger()}) }
	stock := resolvertest.RoundRobinClient(t, "etcd:///"+prefix, grpc.WithResolvers(stockBuilder))
	ours := resolvertest.RoundRobinClient(t, target, grpc.WithResolvers(builder()))
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, builder(), target, cc)
	defer r.Close()

	var regs []*Registration
	steps := []struct {
		name   string
		change func(t *testing.T)
		want   []*testbed.Backend
	}{
		{"endpoints.Manager adds two, on a lease, with metadata", func(t *testing.T) {
			ups := []*endpoints.UpdateWithOpts{
				endpoints.NewAddUpdateOpts(prefix+"/"+bs[0].Addr, endpoints.Endpoint{Addr: bs[0].Addr, Metadata: map[string]string{"by": "manager"}}, clientv3.WithLease(lease.ID)),
				endpoints.NewAddUpdateOpts(prefix+"/"+bs[1].Addr, endpoints.Endpoint{Addr: bs[1].Addr}, clientv3.WithLease(lease.ID)),
			}
			if err := em.Update(ctx, ups); err != nil {
				t.Fatal(err)
			}
		}, bs[:2]},
		{"register/etcd adds two", func(t *testing.T) {
			for _, b := range bs[2:] {
				regs = append(regs, register(t, cli, b.Addr, WithLogger(logs.Logger()), WithMetadata(map[string]string{"by": "register"})))
			}
		}, bs},
		{"endpoints.Manager deletes one of register/etcd's", func(t *testing.T) {
			if err := em.DeleteEndpoint(ctx, regs[0].Key()); err != nil {
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
			register(t, cli, bs[3].Addr, WithLogger(logs.Logger()))
			if _, err := cli.Revoke(ctx, lease.ID); err != nil {
				t.Fatal(err)
			}
		}, bs[3:]},
	}
	for _, s := range steps {
		s.change(t)
		resolvertest.WaitForSet(t, ours, resolvertest.Names(s.want...), 10*time.Second)
		resolvertest.WaitForSet(t, stock, resolvertest.Names(s.want...), 10*time.Second)
		st := cc.WaitForState(t, resolvertest.HasAddrs(resolvertest.Addrs(s.want...)...))
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

// metadataOf decodes the metadata of an endpoint grpclb's resolver
// published into a map.
func metadataOf(t *testing.T, ep resolver.Endpoint) map[string]any {
	t.Helper()
	inst, ok := etcdresolver.InstanceFromEndpoint(ep)
	if !ok {
		t.Fatalf("endpoint %v has no Instance", ep.Addresses)
	}
	return resolvertest.JSONMap(t, inst.Metadata)
}
