package lab

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed"
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

// registration is a backend's registration with a registry.
type registration interface {
	Deregister(ctx context.Context) error
}

// registrations are the backends a registry has registered, by address,
// kept in step with the running ones as their own registration would.
type registrations[R registration] struct {
	mu   sync.Mutex
	regs map[string]R
}

// sync registers (with register, within 5s each) the running backends that
// are not terminating and not registered yet, and deregisters the rest. A
// backend that register fails for is tried again at the next sync.
func (rs *registrations[R]) sync(running, terminating []*testbed.Backend, register func(context.Context, *testbed.Backend) (R, error)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.regs == nil {
		rs.regs = make(map[string]R)
	}
	live := make(map[string]bool)
	for _, b := range running {
		if slices.Contains(terminating, b) {
			continue
		}
		live[b.Addr] = true
		if _, ok := rs.regs[b.Addr]; ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reg, err := register(ctx, b)
		cancel()
		if err == nil {
			rs.regs[b.Addr] = reg
		}
	}
	for addr, reg := range rs.regs {
		if !live[addr] {
			deregister(reg, 5*time.Second)
			delete(rs.regs, addr)
		}
	}
}

// deregisterAll deregisters every backend, each within timeout.
func (rs *registrations[R]) deregisterAll(timeout time.Duration) {
	rs.mu.Lock()
	regs := rs.regs
	rs.regs = nil
	rs.mu.Unlock()
	for _, reg := range regs {
		deregister(reg, timeout)
	}
}

func deregister(reg registration, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = reg.Deregister(ctx)
}
