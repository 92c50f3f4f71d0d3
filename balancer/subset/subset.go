package subset

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/policy"
	"github.com/grpclb/grpclb/internal/resolvererr"
)

// Name is the name of the policy in a service config's loadBalancingConfig.
const Name = "deterministic_subset"

var logger = grpclog.Component(Name)

func init() {
	policy.Register(Name, ParseConfig, newBalancer)
}

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &subsetBalancer{cc: cc, opts: opts, hostname: os.Hostname}
}

// IndexFromHostname derives a client index in [0, clientCount) from a host
// name, for configs without clientIndex: the ordinal of a StatefulSet pod
// ("web-7" is 7) when the name ends in "-" and a number below clientCount,
// or else a hash of the name modulo clientCount. Ordinals give every
// client its own index; hashes collide (with 300 clients, about a third of
// the indexes are taken twice or more and as many left free), which costs
// balance: see the package documentation.
func IndexFromHostname(hostname string, clientCount int) int {
	if clientCount <= 0 {
		return 0
	}
	if i := strings.LastIndexByte(hostname, '-'); i >= 0 {
		if n, err := strconv.Atoi(hostname[i+1:]); err == nil && n >= 0 && n < clientCount && hostname[i+1] != '+' {
			return n
		}
	}
	return int(xxhash.Sum64String(hostname) % uint64(clientCount))
}

// subsetBalancer hands its child the resolver's state with only this
// client's subset of the endpoints. gRPC calls its Balancer methods one at
// a time; the child's calls to the channel go through childConn.
type subsetBalancer struct {
	cc       balancer.ClientConn
	opts     balancer.BuildOptions
	hostname func() (string, error)
	// why the set is empty, for the calls a child such as round_robin
	// fails with "no children to pick from"
	resolverErr resolvererr.Keeper

	mu        sync.Mutex // guards child against childConn's calls
	child     balancer.Balancer
	childName string
	gen       int // generation of the current child
	closed    bool

	// The last subset computed, kept while the set of endpoint keys and
	// the config's numbers stay the same (attribute-only updates).
	lastKeys   []string
	lastParams [3]int // clientIndex, clientCount, subsetSize
	lastSticky bool
	lastSubset []int

	// With sticky: every client's subset (keys) of lastKeys, which the
	// next change repairs, and the subset size it was made for; nil
	// without sticky.
	assignment   [][]string
	assignedSize int
}

func (b *subsetBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, ok := s.BalancerConfig.(*Config)
	if !ok || cfg == nil {
		logger.Errorf("%s: received a config of unexpected type %T", Name, s.BalancerConfig)
		return balancer.ErrBadResolverState
	}
	b.resolverErr.Update(s.ResolverState)
	if b.closed {
		return nil
	}
	if b.child == nil || b.childName != cfg.ChildPolicy.Name {
		bb := balancer.Get(cfg.ChildPolicy.Name)
		if bb == nil {
			return fmt.Errorf("%s: child policy %q is not registered", Name, cfg.ChildPolicy.Name)
		}
		// grpc-go's graceful switch is internal: a new child policy
		// replaces the old one at once. A new generation first, so that
		// nothing the old one does from now on reaches the channel.
		b.mu.Lock()
		b.gen++
		gen := b.gen
		old := b.child
		b.child = nil
		b.mu.Unlock()
		if old != nil {
			old.Close()
		}
		child := bb.Build(&childConn{ClientConn: b.cc, b: b, gen: gen}, b.opts)
		b.mu.Lock()
		b.child, b.childName = child, cfg.ChildPolicy.Name
		b.mu.Unlock()
	}
	index := cfg.ClientIndex
	if index < 0 {
		host, err := b.hostname()
		if err != nil {
			logger.Warningf("%s: no clientIndex in the config and no host name (%v): using index 0", Name, err)
		}
		index = IndexFromHostname(host, cfg.ClientCount)
	}
	state := s.ResolverState
	state.Endpoints = b.subset(state.Endpoints, index, cfg)
	state.Addresses = nil
	for _, ep := range state.Endpoints {
		state.Addresses = append(state.Addresses, ep.Addresses...)
	}
	return b.child.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  state,
		BalancerConfig: cfg.ChildPolicy.Config,
	})
}

// subset returns this client's endpoints, in the resolver's order, with
// their attributes. Endpoints are known by their addresses: two with the
// same addresses are one backend (the first is kept).
func (b *subsetBalancer) subset(eps []resolver.Endpoint, index int, cfg *Config) []resolver.Endpoint {
	keys := make([]string, 0, len(eps))
	pos := make([]int, 0, len(eps)) // keys[i] is eps[pos[i]]'s
	seen := make(map[string]bool, len(eps))
	for i, ep := range eps {
		k := endpointKey(ep)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		pos = append(pos, i)
	}
	params := [3]int{index, cfg.ClientCount, cfg.SubsetSize}
	var sub []int
	switch {
	case params == b.lastParams && cfg.Sticky == b.lastSticky && slices.Equal(keys, b.lastKeys):
		sub = b.lastSubset
	case cfg.Sticky:
		sub = b.stickySubset(keys, index, cfg)
	default:
		sub = Subset(keys, index, cfg.ClientCount, cfg.SubsetSize)
		b.assignment = nil
	}
	b.lastKeys, b.lastParams, b.lastSticky, b.lastSubset = keys, params, cfg.Sticky, sub
	chosen := make([]int, len(sub))
	for j, i := range sub {
		chosen[j] = pos[i]
	}
	slices.Sort(chosen)
	out := make([]resolver.Endpoint, len(chosen))
	for j, i := range chosen {
		out[j] = eps[i]
	}
	return out
}

// stickySubset returns client index's subset of keys, as indexes into
// keys, under sticky: the previous assignment repaired for the new set
// (Repair), or, when there is none to repair (the first set, another
// clientCount or subsetSize, sticky just turned on), Assign's.
func (b *subsetBalancer) stickySubset(keys []string, index int, cfg *Config) []int {
	pos := make(map[string]int, len(keys))
	for i, k := range keys {
		pos[k] = i
	}
	switch {
	case b.assignment == nil || len(b.assignment) != cfg.ClientCount || b.assignedSize != cfg.SubsetSize:
		b.assignment = make([][]string, cfg.ClientCount)
		for c, row := range Assign(keys, cfg.ClientCount, cfg.SubsetSize) {
			b.assignment[c] = make([]string, len(row))
			for j, i := range row {
				b.assignment[c][j] = keys[i]
			}
		}
		b.assignedSize = cfg.SubsetSize
	case !sameSet(b.lastKeys, pos):
		b.assignment = Repair(b.assignment, keys, cfg.SubsetSize)
	}
	row := b.assignment[index]
	out := make([]int, len(row))
	for j, k := range row {
		out[j] = pos[k]
	}
	return out
}

// sameSet reports whether keys (without duplicates) are exactly the keys
// of set.
func sameSet(keys []string, set map[string]int) bool {
	if len(keys) != len(set) {
		return false
	}
	for _, k := range keys {
		if _, ok := set[k]; !ok {
			return false
		}
	}
	return true
}

// endpointKey names an endpoint by its addresses, sorted, so that the
// resolver's order of an endpoint's addresses does not matter. The keys
// are what Subset hashes: their separator is part of every assignment.
func endpointKey(ep resolver.Endpoint) string { return policy.EndpointKey(ep, ",") }

func (b *subsetBalancer) ResolverError(err error) {
	b.resolverErr.Error(err)
	if b.child != nil {
		b.child.ResolverError(err)
		return
	}
	// No config yet, so no child: say so to the channel, which fails the
	// calls waiting for a picker with the error.
	b.cc.UpdateState(balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: base.NewErrPicker(err)})
}

func (b *subsetBalancer) UpdateSubConnState(sc balancer.SubConn, state balancer.SubConnState) {
	logger.Errorf("%s: UpdateSubConnState(%v, %+v) called unexpectedly", Name, sc, state)
}

func (b *subsetBalancer) ExitIdle() {
	if b.child != nil {
		b.child.ExitIdle()
	}
}

func (b *subsetBalancer) Close() {
	b.mu.Lock()
	b.closed = true
	child := b.child
	b.child = nil
	b.gen++
	b.mu.Unlock()
	if child != nil {
		child.Close()
	}
}

// childConn is the channel as the child sees it: its state updates reach
// the channel only while it is the current child.
type childConn struct {
	balancer.ClientConn
	b   *subsetBalancer
	gen int
}

func (c *childConn) UpdateState(s balancer.State) {
	c.b.mu.Lock()
	current := !c.b.closed && c.gen == c.b.gen
	c.b.mu.Unlock()
	if current {
		c.b.cc.UpdateState(c.b.resolverErr.State(s))
	}
}
