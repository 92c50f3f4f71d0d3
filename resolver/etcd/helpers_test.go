package etcd

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.uber.org/goleak"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a real etcd and a fleet of backends, registered (or not) under
// one prefix.
type world struct {
	etcd   *etcdtest.Server
	fleet  *testbed.Fleet
	prefix string
	em     endpoints.Manager
	logs   *resolvertest.LogRecorder
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	e := etcdtest.Start(t)
	f := testbed.FleetFor(t, n, testbed.FleetConfig{})
	w := &world{etcd: e, fleet: f, prefix: "service/echo", logs: resolvertest.NewLogRecorder(t)}
	var err error
	w.em, err = endpoints.NewManager(e.Client(), w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// add registers addrs the way etcd's endpoints.Manager does (no lease),
// in one transaction.
func (w *world) add(t *testing.T, addrs ...string) {
	t.Helper()
	var ups []*endpoints.UpdateWithOpts
	for _, a := range addrs {
		ups = append(ups, endpoints.NewAddUpdateOpts(w.prefix+"/"+a, endpoints.Endpoint{Addr: a}))
	}
	if err := w.em.Update(context.Background(), ups); err != nil {
		t.Fatal(err)
	}
}

// del deletes the keys of addrs in one transaction.
func (w *world) del(t *testing.T, addrs ...string) {
	t.Helper()
	var ups []*endpoints.UpdateWithOpts
	for _, a := range addrs {
		ups = append(ups, endpoints.NewDeleteUpdateOpts(w.prefix+"/"+a))
	}
	if err := w.em.Update(context.Background(), ups); err != nil {
		t.Fatal(err)
	}
}

// put writes a raw value under a key.
func (w *world) put(t *testing.T, key, value string) {
	t.Helper()
	if _, err := w.etcd.Client().Put(context.Background(), key, value); err != nil {
		t.Fatal(err)
	}
}

// leasedKey is an instance registered the way register/etcd registers one:
// the key prefix+"/"+addr, holding the endpoints.Endpoint value etcd's
// naming/endpoints package writes, on a lease of its own. The resolver's
// tests do not use register/etcd: its tests import this module (a
// registration is proven by what the resolver sees), so this module must
// not import it back. Nothing keeps the lease alive: its TTL outlasts any
// test.
type leasedKey struct {
	client *clientv3.Client
	key    string
	lease  clientv3.LeaseID
}

// leasedKeyTTL is the TTL of a leasedKey's lease, in seconds.
const leasedKeyTTL = 600

// putLeased grants a lease and puts the key of addr under prefix on it.
func putLeased(tb testing.TB, c *clientv3.Client, prefix, addr string) *leasedKey {
	tb.Helper()
	ctx := testbed.Context(tb, 10*time.Second)
	em, err := endpoints.NewManager(c, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := c.Grant(ctx, leasedKeyTTL)
	if err != nil {
		tb.Fatal(err)
	}
	k := &leasedKey{client: c, key: prefix + "/" + addr, lease: g.ID}
	if err := em.AddEndpoint(ctx, k.key, endpoints.Endpoint{Addr: addr}, clientv3.WithLease(g.ID)); err != nil {
		tb.Fatal(err)
	}
	return k
}

// Deregister revokes the lease, which deletes the key.
func (k *leasedKey) Deregister(ctx context.Context) error {
	if _, err := k.client.Revoke(ctx, k.lease); err != nil {
		return fmt.Errorf("revoking the lease of %s: %w", k.key, err)
	}
	return nil
}

// target is a target for the world's prefix with query options.
func (w *world) target(query string) string {
	t := fmt.Sprintf("etcd://%s/%s", w.etcd.Endpoint(), w.prefix)
	if query != "" {
		t += "?" + query
	}
	return t
}

// builder is a builder whose logs go to the world's recorder.
func (w *world) builder() resolver.Builder {
	return NewBuilder(Options{Logger: w.logs.Logger()})
}

// metadataOf decodes an endpoint's metadata into a map.
func metadataOf(t *testing.T, ep resolver.Endpoint) map[string]any {
	t.Helper()
	inst, ok := InstanceFromEndpoint(ep)
	if !ok {
		t.Fatalf("endpoint %v has no Instance", ep.Addresses)
	}
	return resolvertest.JSONMap(t, inst.Metadata)
}

// newQuietClient is an etcd client of the world's server.
func (w *world) newQuietClient(t *testing.T) *clientv3.Client { return w.etcd.NewClient(t) }

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
