package subset

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// recorder is a child policy that records what it is given and reports
// a state of its own.
const recorderName = "subset_test_recorder"

type recorderBuilder struct{}

var (
	recMu   sync.Mutex
	records []any // balancer.ClientConnState or error, in order
)

func (recorderBuilder) Name() string { return recorderName }
func (recorderBuilder) Build(cc balancer.ClientConn, _ balancer.BuildOptions) balancer.Balancer {
	return &recorder{cc: cc}
}

type recorder struct{ cc balancer.ClientConn }

func (r *recorder) UpdateClientConnState(s balancer.ClientConnState) error {
	recMu.Lock()
	records = append(records, s)
	recMu.Unlock()
	r.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Connecting, Picker: base.NewErrPicker(balancer.ErrNoSubConnAvailable)})
	return nil
}
func (r *recorder) ResolverError(err error) {
	recMu.Lock()
	records = append(records, err)
	recMu.Unlock()
}
func (r *recorder) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}
func (r *recorder) ExitIdle()                                                  {}
func (r *recorder) Close()                                                     {}

func init() { balancer.Register(recorderBuilder{}) }

func takeRecords() []any {
	recMu.Lock()
	defer recMu.Unlock()
	out := records
	records = nil
	return out
}

type zoneKey struct{}

// The child gets the resolver's state with only the client's subset, in the
// resolver's order, attributes kept; resolver errors and the child's state
// pass through.
func TestChildGetsItsSubset(t *testing.T) {
	takeRecords()
	cfg, err := ParseConfig(json.RawMessage(`{"subsetSize": 4, "clientCount": 5, "clientIndex": 2, "childPolicy": [{"` + recorderName + `": {}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	eps := balancertest.Endpoints(20)
	keys := make([]string, len(eps))
	for i := range eps {
		eps[i].Attributes = attributes.New(zoneKey{}, i)
		keys[i] = eps[i].Addresses[0].Addr
	}
	cc := &balancertest.ClientConn{}
	b := balancer.Get(Name).Build(cc, balancer.BuildOptions{})
	defer b.Close()
	svcAttrs := attributes.New("k", "v")
	if err := b.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  resolver.State{Endpoints: eps, Attributes: svcAttrs},
		BalancerConfig: cfg,
	}); err != nil {
		t.Fatal(err)
	}
	want := Subset(keys, 2, 5, 4)
	slices.Sort(want)
	recs := takeRecords()
	if len(recs) != 1 {
		t.Fatalf("child got %d calls, want 1", len(recs))
	}
	s := recs[0].(balancer.ClientConnState)
	if len(s.ResolverState.Endpoints) != len(want) || len(s.ResolverState.Addresses) != len(want) {
		t.Fatalf("child got %d endpoints and %d addresses, want %d", len(s.ResolverState.Endpoints), len(s.ResolverState.Addresses), len(want))
	}
	for j, ep := range s.ResolverState.Endpoints {
		i := want[j]
		if ep.Addresses[0].Addr != keys[i] || ep.Attributes.Value(zoneKey{}) != i {
			t.Errorf("child's endpoint %d is %v (attribute %v), want %s with attribute %d", j, ep.Addresses, ep.Attributes.Value(zoneKey{}), keys[i], i)
		}
	}
	if !s.ResolverState.Attributes.Equal(svcAttrs) {
		t.Errorf("resolver attributes %v, want %v", s.ResolverState.Attributes, svcAttrs)
	}
	if got := cc.State().ConnectivityState; got != connectivity.Connecting {
		t.Errorf("channel state %v, want the child's CONNECTING", got)
	}

	errDown := errors.New("registry down")
	b.ResolverError(errDown)
	if recs := takeRecords(); len(recs) != 1 || recs[0] != errDown {
		t.Errorf("child got %v, want the resolver error", recs)
	}

	// The same set in another order, with a duplicate: the same subset.
	shuffled := append(slices.Clone(eps[10:]), eps[:10]...)
	shuffled = append(shuffled, eps[3])
	if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: shuffled}, BalancerConfig: cfg}); err != nil {
		t.Fatal(err)
	}
	s = takeRecords()[0].(balancer.ClientConnState)
	var got []int
	for _, ep := range s.ResolverState.Endpoints {
		got = append(got, ep.Attributes.Value(zoneKey{}).(int))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after reordering, the child got endpoints %v, want %v", got, want)
	}
}

// A config of the wrong type is rejected, not a panic.
func TestBadConfigType(t *testing.T) {
	b := balancer.Get(Name).Build(&balancertest.ClientConn{}, balancer.BuildOptions{})
	defer b.Close()
	if err := b.UpdateClientConnState(balancer.ClientConnState{}); !errors.Is(err, balancer.ErrBadResolverState) {
		t.Errorf("UpdateClientConnState without a config: %v, want ErrBadResolverState", err)
	}
}

// Without clientIndex, the index comes from the host name.
func TestIndexFromTheHostname(t *testing.T) {
	takeRecords()
	cfg, err := ParseConfig(json.RawMessage(`{"subsetSize": 2, "clientCount": 5, "childPolicy": [{"` + recorderName + `": {}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	eps := balancertest.Endpoints(10)
	keys := make([]string, len(eps))
	for i := range eps {
		keys[i] = eps[i].Addresses[0].Addr
	}
	b := balancer.Get(Name).Build(&balancertest.ClientConn{}, balancer.BuildOptions{}).(*subsetBalancer)
	defer b.Close()
	b.hostname = func() (string, error) { return "client-3", nil }
	if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: eps}, BalancerConfig: cfg}); err != nil {
		t.Fatal(err)
	}
	s := takeRecords()[0].(balancer.ClientConnState)
	want := Subset(keys, 3, 5, 2)
	slices.Sort(want)
	for j, ep := range s.ResolverState.Endpoints {
		if ep.Addresses[0].Addr != keys[want[j]] {
			t.Errorf("endpoint %d is %s, want %s (client 3's subset)", j, ep.Addresses[0].Addr, keys[want[j]])
		}
	}
}
