package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
	etcdreg "github.com/grpclb/grpclb/register/etcd"
	etcdresolver "github.com/grpclb/grpclb/resolver/etcd"
)

// etcdRegistry is an etcd process (Debian's etcd-server, the same the
// tests run) with every backend registered through register/etcd.
type etcdRegistry struct {
	dir    string
	client *clientv3.Client

	regs registrations[*etcdreg.Registration]

	mu      sync.Mutex
	srv     *etcdtest.Server
	running bool // false between down and up
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
	r := &etcdRegistry{dir: dir, srv: srv, running: true}
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
	r.regs.sync(running, terminating, func(ctx context.Context, b *testbed.Backend) (*etcdreg.Registration, error) {
		return etcdreg.Register(ctx, r.client, labPrefix, b.Addr, etcdreg.WithTTL(5*time.Second), etcdreg.WithLogger(quiet))
	})
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
	r.regs.deregisterAll(time.Second)
	if r.client != nil {
		r.client.Close()
	}
	_ = r.srv.Close()
	os.RemoveAll(r.dir)
}
