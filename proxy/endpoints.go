package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// A cluster's policy is wrapped in endpointsName, a parent that changes
// nothing about balancing and tells the proxy, for /clusters, what each
// endpoint is doing: the connectivity state of its subchannels (which
// only the policy sees) and the calls in flight on it (counted at the
// pick, so retries and hedges count each attempt).

const endpointsName = "grpclb_proxy_endpoints"

func init() { balancer.Register(endpointsBuilder{}) }

// endpointTables holds each upstream's table by its id, for the policy
// instance of its channel to find.
var (
	endpointTables sync.Map // string → *endpointTable
	nextTableID    atomic.Uint64
)

// endpointTable is what the subchannels of one cluster's channel do.
type endpointTable struct {
	id       string
	subConns sync.Map // *countedSubConn → *subConnInfo, read by statuses
	// draining holds the SubConns shut down while calls ran on them: they
	// stay in subConns, for statuses to count those calls, until statuses
	// or the pruning every pruneEvery SubConns kept finds them without
	// calls (a SubConn shut down gets no new ones). So a Done costs nothing
	// more, and a mass shutdown no more than linear time.
	draining sync.Map // *countedSubConn → struct{}
	kept     atomic.Int64
}

// pruneEvery is how many SubConns are kept in draining between two
// prunings of those without calls.
const pruneEvery = 64

// pruneDraining forgets the shut-down SubConns whose calls have ended.
func (t *endpointTable) pruneDraining() {
	t.draining.Range(func(k, _ any) bool {
		if sc := k.(*countedSubConn); sc.info.inFlight.Load() == 0 {
			t.draining.Delete(sc)
			t.subConns.Delete(sc)
		}
		return true
	})
}

type subConnInfo struct {
	addr     string
	state    atomic.Int32 // connectivity.State
	inFlight atomic.Int64
	// release ends a call counted in inFlight: the Done of a pick whose
	// child gave none, made once so that such a pick allocates nothing.
	release func(balancer.DoneInfo)
}

// countedSubConn is the SubConn the child policy gets: gRPC's, with its
// info in the same allocation, so that a pick and its Done find the info
// without a lookup and read one record (with 10,000 endpoints, each
// record a pick reads is a likely cache miss: a map lookup and a separate
// info cost 443 ns a pick and its Done, this 74). Picks return gRPC's
// SubConn to gRPC.
type countedSubConn struct {
	balancer.SubConn
	info subConnInfo
}

func newEndpointTable() *endpointTable {
	t := &endpointTable{id: strconv.FormatUint(nextTableID.Add(1), 10)}
	endpointTables.Store(t.id, t)
	return t
}

// forget drops the table once its channel is closed.
func (t *endpointTable) forget() { endpointTables.Delete(t.id) }

// EndpointStatus is one address of a cluster, as /clusters shows it.
type EndpointStatus struct {
	Address string `json:"address"`
	// Weight is the weight the resolver gave it (endpoint.Weight: 1 when
	// none; 0 for an address only a subchannel still has).
	Weight uint32 `json:"weight"`
	// State is the most usable state of its subchannels (READY, then
	// CONNECTING, IDLE, TRANSIENT_FAILURE); empty while the policy has
	// made none (pick_first tries one address at a time).
	State string `json:"state,omitempty"`
	// Subchannels counts them: pool makes several per address.
	Subchannels int `json:"subchannels,omitempty"`
	// InFlight counts the attempts on it now, including those finishing
	// on a subchannel the policy has shut down (its endpoint left the
	// resolver's set): such an address shows, without state or
	// subchannels, until they end.
	InFlight int64 `json:"inFlight"`
}

// stateRank orders states from the most usable.
var stateRank = map[connectivity.State]int{connectivity.Ready: 0, connectivity.Connecting: 1, connectivity.Idle: 2, connectivity.TransientFailure: 3}

// statuses returns the status of each of addrs (the resolver's set, with
// its weights) and of any other address a subchannel still has.
func (t *endpointTable) statuses(addrs []string, weights map[string]uint32) []EndpointStatus {
	byAddr := map[string]*EndpointStatus{}
	out := make([]EndpointStatus, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, EndpointStatus{Address: a, Weight: weights[a]})
	}
	for i := range out {
		byAddr[out[i].Address] = &out[i]
	}
	type agg struct {
		state  connectivity.State
		n      int
		flight int64
	}
	seen := map[string]*agg{}
	var others []string
	t.pruneDraining()
	t.subConns.Range(func(_, v any) bool {
		sc := v.(*subConnInfo)
		st, flight := connectivity.State(sc.state.Load()), sc.inFlight.Load()
		if st == connectivity.Shutdown && flight == 0 {
			return true // its last call ended since pruneDraining
		}
		a := seen[sc.addr]
		if a == nil {
			a = &agg{}
			seen[sc.addr] = a
			if byAddr[sc.addr] == nil {
				others = append(others, sc.addr)
			}
		}
		// A shut-down subchannel is here only for the calls still
		// finishing on it.
		if st != connectivity.Shutdown {
			if a.n == 0 || stateRank[st] < stateRank[a.state] {
				a.state = st
			}
			a.n++
		}
		a.flight += flight
		return true
	})
	for _, addr := range others {
		out = append(out, EndpointStatus{Address: addr})
	}
	for i := range out {
		if a := seen[out[i].Address]; a != nil {
			out[i].InFlight = a.flight
			if a.n > 0 {
				out[i].State, out[i].Subchannels = a.state.String(), a.n
			}
		}
	}
	slices.SortFunc(out, func(a, b EndpointStatus) int { return cmpString(a.Address, b.Address) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// endpointsConfig is the wrapper's config: the table's id and the child.
type endpointsConfig struct {
	serviceconfig.LoadBalancingConfig
	table     string
	childName string
	child     serviceconfig.LoadBalancingConfig
}

type endpointsBuilder struct{}

func (endpointsBuilder) Name() string { return endpointsName }

func (endpointsBuilder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	var j struct {
		Table       string          `json:"table"`
		ChildPolicy json.RawMessage `json:"childPolicy"`
	}
	if err := json.Unmarshal(js, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", endpointsName, err)
	}
	name, _, child, err := jsonconf.ChildPolicy(j.ChildPolicy, endpointsName)
	if err != nil {
		return nil, fmt.Errorf("%s: childPolicy: %w", endpointsName, err)
	}
	return &endpointsConfig{table: j.Table, childName: name, child: child}, nil
}

func (endpointsBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &endpointsBalancer{opts: opts}
	b.cc = endpointsConn{ClientConn: cc, b: b}
	return b
}

// endpointsBalancer passes everything to its child, through endpointsConn.
type endpointsBalancer struct {
	cc    endpointsConn
	opts  balancer.BuildOptions
	table atomic.Pointer[endpointTable]
	child balancer.Balancer
}

func (b *endpointsBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, ok := s.BalancerConfig.(*endpointsConfig)
	if !ok {
		return errors.New(endpointsName + ": no config")
	}
	if t, ok := endpointTables.Load(cfg.table); ok && b.table.Load() == nil {
		b.table.Store(t.(*endpointTable))
	}
	if b.child == nil {
		bb := balancer.Get(cfg.childName)
		if bb == nil {
			return fmt.Errorf("%s: child policy %q is not registered", endpointsName, cfg.childName)
		}
		b.child = bb.Build(b.cc, b.opts)
	}
	s.BalancerConfig = cfg.child
	return b.child.UpdateClientConnState(s)
}

func (b *endpointsBalancer) ResolverError(err error) {
	if b.child != nil {
		b.child.ResolverError(err)
	}
}

// UpdateSubConnState is not called: every SubConn has a StateListener,
// which forwards to the child's listener or, without one, to the child's
// UpdateSubConnState.
func (b *endpointsBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

func (b *endpointsBalancer) ExitIdle() {
	if b.child != nil {
		b.child.ExitIdle()
	}
}

func (b *endpointsBalancer) Close() {
	if b.child != nil {
		b.child.Close()
	}
}

// endpointsConn records the child's subchannels and their states, and
// wraps its pickers so that each pick counts in flight on its subchannel.
type endpointsConn struct {
	balancer.ClientConn
	b *endpointsBalancer
}

func (c endpointsConn) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	t := c.b.table.Load()
	if t == nil || len(addrs) == 0 {
		//lint:ignore SA1019 forwarding the child's call
		return c.ClientConn.NewSubConn(addrs, opts)
	}
	sc := &countedSubConn{}
	info := &sc.info
	info.addr = addrs[0].Addr
	info.state.Store(int32(connectivity.Idle))
	info.release = func(balancer.DoneInfo) { info.inFlight.Add(-1) }
	listener := opts.StateListener
	opts.StateListener = func(s balancer.SubConnState) {
		info.state.Store(int32(s.ConnectivityState))
		if s.ConnectivityState == connectivity.Shutdown {
			if info.inFlight.Load() == 0 {
				t.subConns.Delete(sc)
			} else {
				t.draining.Store(sc, struct{}{}) // pruneDraining forgets it once its calls end
				if t.kept.Add(1)%pruneEvery == 0 {
					t.pruneDraining()
				}
			}
		}
		if listener != nil {
			listener(s)
		} else if child := c.b.child; child != nil {
			// A child without listeners learns of its SubConns' states
			// the old way.
			//lint:ignore SA1019 forwarding to a child that uses the deprecated call
			child.UpdateSubConnState(sc, s)
		}
	}
	//lint:ignore SA1019 forwarding the child's call
	inner, err := c.ClientConn.NewSubConn(addrs, opts)
	if err != nil {
		return nil, err
	}
	sc.SubConn = inner
	t.subConns.Store(sc, info)
	return sc, nil
}

// RemoveSubConn is deprecated; it shuts sc down (gRPC would not know the
// child's SubConn, a countedSubConn).
func (c endpointsConn) RemoveSubConn(sc balancer.SubConn) { sc.Shutdown() }

// UpdateAddresses is deprecated; it is forwarded to the SubConn.
func (c endpointsConn) UpdateAddresses(sc balancer.SubConn, addrs []resolver.Address) {
	//lint:ignore SA1019 forwarding the child's call
	sc.UpdateAddresses(addrs)
}

func (c endpointsConn) UpdateState(s balancer.State) {
	if t := c.b.table.Load(); t != nil && s.Picker != nil {
		s.Picker = countingPicker{inner: s.Picker, t: t}
	}
	c.ClientConn.UpdateState(s)
}

// countingPicker counts each pick in flight on its subchannel until Done.
type countingPicker struct {
	inner balancer.Picker
	t     *endpointTable
}

func (p countingPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	res, err := p.inner.Pick(info)
	if err != nil || res.SubConn == nil {
		return res, err
	}
	sc, ok := res.SubConn.(*countedSubConn)
	if !ok {
		return res, nil // made before the table was known
	}
	res.SubConn = sc.SubConn
	counted := &sc.info
	counted.inFlight.Add(1)
	if done := res.Done; done != nil {
		res.Done = func(di balancer.DoneInfo) {
			counted.inFlight.Add(-1)
			done(di)
		}
	} else {
		res.Done = counted.release
	}
	return res, nil
}

// watchedServiceConfig returns the service config sc with its policy
// wrapped in endpointsName, which reports to the table of id; the rest of
// sc (methodConfig, ...) is kept. A config without a policy gets
// pick_first's, gRPC's default.
func watchedServiceConfig(sc, id string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sc), &m); err != nil {
		return "", err
	}
	child := m["loadBalancingConfig"]
	if child == nil {
		child = json.RawMessage(`[{"pick_first":{}}]`)
		if legacy, ok := m["loadBalancingPolicy"]; ok {
			var name string
			if err := json.Unmarshal(legacy, &name); err != nil {
				return "", fmt.Errorf("loadBalancingPolicy: %w", err)
			}
			item, _ := json.Marshal([]map[string]struct{}{{strings.ToLower(name): {}}})
			child = item
			delete(m, "loadBalancingPolicy")
		}
	}
	wrapped, err := json.Marshal([]map[string]any{{endpointsName: map[string]any{"table": id, "childPolicy": child}}})
	if err != nil {
		return "", err
	}
	m["loadBalancingConfig"] = wrapped
	out, err := json.Marshal(m)
	return string(out), err
}
