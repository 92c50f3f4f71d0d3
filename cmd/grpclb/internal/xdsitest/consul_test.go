package xdsitest

import (
	"net/netip"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/testbed"
	_ "github.com/grpclb/grpclb/resolver/consul" // consul://
)

// consulRegistry keeps the service in a real Consul agent: one instance
// per backend, without checks (so passing).
type consulRegistry struct {
	agent  *consultest.Agent
	client *api.Client
}

func (r *consulRegistry) target() string { return "consul://" + r.agent.HTTPAddr() + "/echo" }

func (r *consulRegistry) add(t *testing.T, b *testbed.Backend) {
	t.Helper()
	ap := netip.MustParseAddrPort(b.Addr)
	if err := r.client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "echo-" + b.Name, Name: "echo", Address: ap.Addr().String(), Port: int(ap.Port()),
	}); err != nil {
		t.Fatal(err)
	}
}

func (r *consulRegistry) remove(t *testing.T, b *testbed.Backend) {
	t.Helper()
	if err := r.client.Agent().ServiceDeregister("echo-" + b.Name); err != nil {
		t.Fatal(err)
	}
}

// grpc-go's xDS client follows a service registered in a real Consul.
func TestXDSFollowsConsul(t *testing.T) {
	a := consultest.Start(t)
	followsRegistry(t, &consulRegistry{agent: a, client: a.Client(t)})
}
