// Package resolvererr keeps a policy's last resolver error while its
// endpoint set is empty, for the message of the calls it fails.
//
// The problem: a resolver that empties its set (a Service scaled to zero,
// a registry prefix with no instance left) publishes the empty set and
// reports why with ResolverError. grpc-go's endpointsharding, under
// round_robin and grpclb's policies, then has no child to pick from, and
// fails calls with "no children to pick from": the resolver's reason never
// reaches the caller. A policy that keeps a Keeper fails them with the
// reason instead.
package resolvererr

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

// Keeper remembers the last resolver error reported since the policy
// received an empty endpoint set. The zero value is ready to use; its
// methods are safe to call concurrently.
type Keeper struct {
	mu    sync.Mutex
	empty bool
	err   error
}

// Update notes the resolver state a policy received; it supersedes any
// earlier error.
func (k *Keeper) Update(s resolver.State) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.empty = len(s.Endpoints) == 0 && len(s.Addresses) == 0
	k.err = nil
}

// Error notes a resolver error.
func (k *Keeper) Error(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

// State returns s, or, while the set is empty and a resolver error was
// reported, s with a picker that fails calls with that error when s is
// TRANSIENT_FAILURE.
func (k *Keeper) State(s balancer.State) balancer.State {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.empty && k.err != nil && s.ConnectivityState == connectivity.TransientFailure {
		s.Picker = base.NewErrPicker(fmt.Errorf("no endpoints to pick from; the resolver says: %w", k.err))
	}
	return s
}
