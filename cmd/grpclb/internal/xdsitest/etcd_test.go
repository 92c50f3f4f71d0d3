package xdsitest

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/naming/endpoints"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
	_ "github.com/grpclb/grpclb/resolver/etcd" // etcd://
)

// etcdRegistry keeps the service in a real etcd, in the layout of etcd's
// naming/endpoints (what register/etcd writes).
type etcdRegistry struct {
	server *etcdtest.Server
	em     endpoints.Manager
}

const etcdPrefix = "service/echo"

func (r *etcdRegistry) target() string { return "etcd://" + r.server.Endpoint() + "/" + etcdPrefix }

func (r *etcdRegistry) add(t *testing.T, b *testbed.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.em.AddEndpoint(ctx, etcdPrefix+"/"+b.Addr, endpoints.Endpoint{Addr: b.Addr}); err != nil {
		t.Fatal(err)
	}
}

func (r *etcdRegistry) remove(t *testing.T, b *testbed.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.em.DeleteEndpoint(ctx, etcdPrefix+"/"+b.Addr); err != nil {
		t.Fatal(err)
	}
}

// grpc-go's xDS client follows a service registered in a real etcd.
func TestXDSFollowsEtcd(t *testing.T) {
	s := etcdtest.Start(t)
	em, err := endpoints.NewManager(s.NewClient(t), etcdPrefix)
	if err != nil {
		t.Fatal(err)
	}
	followsRegistry(t, &etcdRegistry{server: s, em: em})
}
