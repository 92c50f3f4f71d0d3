package chash

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/policy"
)

// Name is the name of the policy in the service config.
const Name = "consistent_hash"

var logger = grpclog.Component(Name)

func init() {
	policy.Register(Name, ParseConfig, newBalancer)
}

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &chashBalancer{endpoints: make(map[string]*endpointInfo)}
	b.counters.total = &b.total
	// Children connect eagerly and reconnect by themselves: every endpoint
	// owns a share of the keys, so every endpoint is wanted, and a key's
	// first call should find its owner connected.
	b.Start(cc, b, opts, Name, logger)
	if h := testHookBuilt.Load(); h != nil {
		(*h)(b)
	}
	return b
}

// testHookBuilt, when set (by tests), is called with every new balancer.
var testHookBuilt atomic.Pointer[func(*chashBalancer)]

// chashBalancer keeps a pick_first child per endpoint through
// endpointsharding (which calls UpdateState with the children's states)
// and builds the ring and the pickers.
type chashBalancer struct {
	policy.Petiole

	total    atomic.Int64 // calls in flight on all endpoints (bounded loads)
	counters counterPool  // each endpoint's; under mu

	mu         sync.Mutex
	cfg        *Config
	inhibit    bool                     // inside UpdateClientConnState
	childState balancer.State           // last from endpointsharding
	endpoints  map[string]*endpointInfo // by endpointKey
	gen        uint64                   // reconciliation generation
	ring       *ring
	ringNodes  []*endpointInfo // ring node index -> endpoint
	ringStale  bool
}

// endpointInfo is an endpoint's state kept across pickers, so in-flight
// counts survive picker and ring rebuilds.
type endpointInfo struct {
	key     string // endpointKey
	hashKey string // first address: where its points go
	weight  uint32
	ctr     *counter // calls in flight, from the balancer's counterPool

	gen      uint64 // last reconciliation that saw the endpoint
	state    balancer.State
	exitIdle func()
}

func newEndpointInfo(key string, ctr *counter) *endpointInfo {
	return &endpointInfo{key: key, ctr: ctr}
}

// endpointKey identifies an endpoint by its set of addresses, as
// endpointsharding does. Its separator places the points of an endpoint
// that shares its first address with another (see rebuildRingLocked).
func endpointKey(ep resolver.Endpoint) string { return policy.EndpointKey(ep, "\x00") }

func (b *chashBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	cfg, ok := ccs.BalancerConfig.(*Config)
	if !ok {
		if ccs.BalancerConfig != nil {
			return fmt.Errorf("%s: got a config of type %T, want *chash.Config", Name, ccs.BalancerConfig)
		}
		cfg, _ = ParseConfig(nil)
	}
	b.mu.Lock()
	b.inhibit = true
	if b.cfg == nil || b.cfg.VirtualNodes != cfg.VirtualNodes {
		b.ringStale = true
	}
	b.cfg = cfg
	b.mu.Unlock()

	// endpointsharding calls UpdateState synchronously with the children
	// of the new endpoint set; one picker is built at the end.
	err := b.UpdateChildren(ccs.ResolverState)

	b.mu.Lock()
	b.inhibit = false
	b.updatePickerLocked()
	b.mu.Unlock()
	return err
}

// UpdateState receives endpointsharding's aggregated state, whose picker
// carries every child's state.
func (b *chashBalancer) UpdateState(state balancer.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.childState = state
	b.reconcileLocked(endpointsharding.ChildStatesFromPicker(state.Picker))
	if !b.inhibit {
		b.updatePickerLocked()
	}
}

// reconcileLocked updates the endpoints from the children's states and
// marks the ring stale when an endpoint came, went, or changed weight.
func (b *chashBalancer) reconcileLocked(children []endpointsharding.ChildState) {
	b.gen++
	for _, c := range children {
		if len(c.Endpoint.Addresses) == 0 {
			continue // nothing to place on the ring
		}
		key := endpointKey(c.Endpoint)
		info := b.endpoints[key]
		if info == nil {
			info = newEndpointInfo(key, b.counters.get())
			b.endpoints[key] = info
			b.ringStale = true
		}
		w := endpoint.Weight(c.Endpoint)
		hk := c.Endpoint.Addresses[0].Addr
		if info.weight != w || info.hashKey != hk {
			info.weight, info.hashKey = w, hk
			b.ringStale = true
		}
		info.gen = b.gen
		info.state = c.State
		info.exitIdle = c.ExitIdle
	}
	for key, info := range b.endpoints {
		if info.gen != b.gen {
			delete(b.endpoints, key)
			b.counters.put(info.ctr)
			b.ringStale = true
		}
	}
	b.counters.reclaim()
}

// updatePickerLocked rebuilds the ring if needed and sends a new picker.
func (b *chashBalancer) updatePickerLocked() {
	if b.childState.Picker == nil {
		return // endpointsharding has not reported yet
	}
	if len(b.endpoints) == 0 || b.cfg == nil {
		b.Forward(b.childState) // endpointsharding's error, or the resolver's
		return
	}
	if b.ringStale {
		b.rebuildRingLocked()
	}
	p := newPicker(b.cfg, b.ring, b.ringNodes, &b.total)
	b.ClientConn.UpdateState(balancer.State{
		ConnectivityState: b.childState.ConnectivityState,
		Picker:            p,
	})
}

// rebuildRingLocked places the endpoints on a new ring, in the order of
// their hash keys (first addresses), so the ring depends only on the
// endpoint set.
func (b *chashBalancer) rebuildRingLocked() {
	infos := make([]*endpointInfo, 0, len(b.endpoints))
	for _, info := range b.endpoints {
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(x, y *endpointInfo) int {
		return cmp.Or(strings.Compare(x.hashKey, y.hashKey), strings.Compare(x.key, y.key))
	})
	nodes := make([]ringNode, len(infos))
	for i, info := range infos {
		nodes[i] = ringNode{key: info.hashKey, weight: info.weight}
		if i > 0 && info.hashKey == infos[i-1].hashKey {
			// Two endpoints share a first address: place the later one by
			// its whole address set so they do not share points.
			nodes[i].key = info.key
		}
	}
	b.ring = newRing(nodes, b.cfg.VirtualNodes)
	b.ringNodes = infos
	b.ringStale = false
}

// missingKeyError is the error of a call without a key under
// "missingKey": "error".
func missingKeyError(header string) error {
	how := "set one with chash.WithKey(ctx, key)"
	if header != "" {
		how += fmt.Sprintf(" or the %q metadata header", header)
	}
	return status.Errorf(codes.InvalidArgument, "%s: the call has no hash key (missingKey is %q): %s", Name, MissingKeyError, how)
}
