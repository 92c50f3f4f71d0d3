package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
	consulreg "github.com/grpclb/grpclb/register/consul"
	etcdreg "github.com/grpclb/grpclb/register/etcd"
	consulresolver "github.com/grpclb/grpclb/resolver/consul"
	etcdresolver "github.com/grpclb/grpclb/resolver/etcd"
)

// registry is a service registry that registry strategies follow: the
// world keeps it in step with the running backends, as the backends' own
// registration would.
type registry interface {
	// target is the client's target for the lab's service.
	target() string
	// resolver builds the client's resolver (with the lab's quiet logger).
	resolver() resolver.Builder
	// sync registers running backends not yet registered and deregisters
	// the ones that stopped. terminating (a subset of running) are being
	// shut down: registries without such a state deregister them.
	sync(running, terminating []*testbed.Backend)
	// dialOptions are what the client needs to reach the registered
	// addresses (nil: nothing).
	dialOptions() []grpc.DialOption
	// down takes the registry away; up brings it back. A registry that
	// cannot (an agent the lab does not own) returns an error.
	down() error
	up() error
	close()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// etcdRegistry is an etcd process (Debian's etcd-server, the same the
// tests run) with every backend registered through register/etcd.
type etcdRegistry struct {
	dir    string
	client *clientv3.Client

	mu      sync.Mutex
	srv     *etcdtest.Server
	running bool // false between down and up
	regs    map[string]*etcdreg.Registration
}

const labPrefix = "grpclb-lab/backend"

func startEtcdRegistry() (*etcdRegistry, error) {
	dir, err := os.MkdirTemp("", "grpclb-lab-etcd-")
	if err != nil {
		return nil, err
	}
	srv, err := etcdtest.Launch(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &etcdRegistry{dir: dir, srv: srv, running: true, regs: make(map[string]*etcdreg.Registration)}
	// Registrations must reconnect within a second of etcd's return:
	// grpc-go's default backoff grows to two minutes.
	r.client, err = clientv3.New(clientv3.Config{
		Endpoints: []string{srv.Endpoint()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *etcdRegistry) resolver() resolver.Builder {
	return etcdresolver.NewBuilder(etcdresolver.Options{Logger: quiet, MaxBackoff: time.Second})
}

func (r *etcdRegistry) target() string {
	return fmt.Sprintf("etcd://%s/%s", r.srv.Endpoint(), labPrefix)
}

func (r *etcdRegistry) sync(running, terminating []*testbed.Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	leaving := make(map[*testbed.Backend]bool)
	for _, b := range terminating {
		leaving[b] = true
	}
	live := make(map[string]bool)
	for _, b := range running {
		if leaving[b] {
			continue
		}
		live[b.Addr] = true
		if r.regs[b.Addr] != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reg, err := etcdreg.Register(ctx, r.client, labPrefix, b.Addr, etcdreg.WithTTL(5*time.Second), etcdreg.WithLogger(quiet))
		cancel()
		if err == nil {
			r.regs[b.Addr] = reg
		}
	}
	for addr, reg := range r.regs {
		if !live[addr] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = reg.Deregister(ctx)
			cancel()
			delete(r.regs, addr)
		}
	}
}

func (*etcdRegistry) dialOptions() []grpc.DialOption { return nil }

func (r *etcdRegistry) down() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return errors.New("etcd is already down")
	}
	// Abruptly, as a crash would (SIGKILL).
	r.running = false
	return r.srv.Down()
}

func (r *etcdRegistry) up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil
	}
	if err := r.srv.Up(); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	r.running = true
	return nil
}

func (r *etcdRegistry) close() {
	r.mu.Lock()
	regs := r.regs
	r.regs = nil
	r.mu.Unlock()
	for _, reg := range regs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = reg.Deregister(ctx)
		cancel()
	}
	if r.client != nil {
		r.client.Close()
	}
	_ = r.srv.Close()
	os.RemoveAll(r.dir)
}

// consulRegistry registers the backends with an outside Consul agent
// (--consul) under a service name of their own.
type consulRegistry struct {
	addr, service string
	client        *consulapi.Client

	mu   sync.Mutex
	regs map[string]*consulreg.Registration
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
	return &consulRegistry{addr: addr, client: c, regs: make(map[string]*consulreg.Registration),
		service: fmt.Sprintf("grpclb-lab-%d-%d", os.Getpid(), time.Now().UnixNano())}, nil
}

func (r *consulRegistry) resolver() resolver.Builder {
	return consulresolver.NewBuilder(consulresolver.Options{Logger: quiet})
}

func (r *consulRegistry) target() string { return fmt.Sprintf("consul://%s/%s", r.addr, r.service) }

func (r *consulRegistry) sync(running, terminating []*testbed.Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	leaving := make(map[*testbed.Backend]bool)
	for _, b := range terminating {
		leaving[b] = true
	}
	live := make(map[string]bool)
	for _, b := range running {
		if leaving[b] {
			continue
		}
		live[b.Addr] = true
		if r.regs[b.Addr] != nil {
			continue
		}
		host, port, err := splitAddr(b.Addr)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reg, err := consulreg.Register(ctx, r.client, consulreg.Service{Name: r.service, Address: host, Port: port},
			consulreg.WithGRPCCheck(time.Second), consulreg.WithInitialPassing())
		cancel()
		if err == nil {
			r.regs[b.Addr] = reg
		}
	}
	for addr, reg := range r.regs {
		if !live[addr] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = reg.Deregister(ctx)
			cancel()
			delete(r.regs, addr)
		}
	}
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

func (r *consulRegistry) close() { r.sync(nil, nil) }
