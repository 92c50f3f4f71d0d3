package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed"
	consulreg "github.com/grpclb/grpclb/register/consul"
	consulresolver "github.com/grpclb/grpclb/resolver/consul"
)

// consulRegistry registers the backends with an outside Consul agent
// (--consul) under a service name of their own.
type consulRegistry struct {
	addr, service string
	client        *consulapi.Client
	regs          registrations[*consulreg.Registration]
}

func startConsulRegistry(addr string) (*consulRegistry, error) {
	cfg := consulapi.DefaultConfig()
	cfg.Address = addr
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.Status().Leader(); err != nil {
		return nil, fmt.Errorf("consul agent %s: %w", addr, err)
	}
	return &consulRegistry{addr: addr, client: c,
		service: fmt.Sprintf("grpclb-lab-%d-%d", os.Getpid(), time.Now().UnixNano())}, nil
}

func (r *consulRegistry) resolver() resolver.Builder {
	return consulresolver.NewBuilder(consulresolver.Options{Logger: quiet})
}

func (r *consulRegistry) target() string { return fmt.Sprintf("consul://%s/%s", r.addr, r.service) }

func (r *consulRegistry) sync(running, terminating []*testbed.Backend) {
	r.regs.sync(running, terminating, func(ctx context.Context, b *testbed.Backend) (*consulreg.Registration, error) {
		host, port, err := splitAddr(b.Addr)
		if err != nil {
			return nil, err
		}
		return consulreg.Register(ctx, r.client, consulreg.Service{Name: r.service, Address: host, Port: port},
			consulreg.WithGRPCCheck(time.Second), consulreg.WithInitialPassing())
	})
}

func splitAddr(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	_, err = fmt.Sscanf(p, "%d", &port)
	return h, port, err
}

func (*consulRegistry) dialOptions() []grpc.DialOption { return nil }

func (r *consulRegistry) down() error {
	return errors.New("the lab does not own the Consul agent given with --consul")
}
func (r *consulRegistry) up() error { return nil }

func (r *consulRegistry) close() { r.regs.deregisterAll(5 * time.Second) }
