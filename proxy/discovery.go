package proxy

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
)

// A cluster's resolver is wrapped so that the proxy sees what it
// publishes: the endpoints (for /clusters, the per-cluster gauges and the
// deletion of the series of endpoints that leave) and its last error.

// discovery is what a cluster's resolver last said.
type discovery struct {
	mu        sync.Mutex
	endpoints []string          // addresses, sorted
	weights   map[string]uint32 // by address (endpoint.Weight; 1 by default)
	err       error             // the last error reported, nil once a set is published
}

// snapshot returns the endpoints, their weights and the last error.
func (d *discovery) snapshot() ([]string, map[string]uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.endpoints, d.weights, d.err
}

// update records a published set and returns the addresses that left.
func (d *discovery) update(s resolver.State) (left []string) {
	var addrs []string
	weights := map[string]uint32{}
	for _, ep := range s.Endpoints {
		w := endpoint.Weight(ep)
		for _, a := range ep.Addresses {
			addrs = append(addrs, a.Addr)
			weights[a.Addr] = w
		}
	}
	if len(s.Endpoints) == 0 {
		for _, a := range s.Addresses {
			addrs = append(addrs, a.Addr)
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.endpoints {
		if _, found := slices.BinarySearch(addrs, a); !found {
			left = append(left, a)
		}
	}
	d.endpoints, d.weights, d.err = addrs, weights, nil
	return left
}

func (d *discovery) fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// clusterResolver builds the resolver of a cluster's target through the
// builder of its scheme, and watches what it publishes.
type clusterResolver struct {
	inner resolver.Builder
	d     *discovery
	left  func(addrs []string) // endpoints that left the set
}

func (b clusterResolver) Scheme() string { return b.inner.Scheme() }

func (b clusterResolver) Build(t resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	r, err := b.inner.Build(t, watchedConn{ClientConn: cc, b: b}, opts)
	if err != nil {
		b.d.fail(err)
	}
	return r, err
}

// watchedConn is the resolver's ClientConn: it passes everything on.
type watchedConn struct {
	resolver.ClientConn
	b clusterResolver
}

func (c watchedConn) UpdateState(s resolver.State) error {
	if left := c.b.d.update(s); len(left) > 0 {
		c.b.left(left)
	}
	return c.ClientConn.UpdateState(s)
}

func (c watchedConn) ReportError(err error) {
	c.b.d.fail(err)
	c.ClientConn.ReportError(err)
}

// resolverFor returns the builder for target, from builders (Options.Resolvers)
// or the registry, and the target to dial with it: a target without a
// known scheme is grpc-go's default, dns:///target.
func resolverFor(target string, builders []resolver.Builder) (resolver.Builder, string) {
	lookup := func(scheme string) resolver.Builder {
		for _, b := range builders {
			if b.Scheme() == scheme {
				return b
			}
		}
		return resolver.Get(scheme)
	}
	if scheme, _, ok := strings.Cut(target, ":"); ok {
		if b := lookup(scheme); b != nil {
			return b, target
		}
	}
	return lookup("dns"), "dns:///" + target
}
