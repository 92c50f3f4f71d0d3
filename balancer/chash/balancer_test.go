package chash

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests run the registered policy, with endpointsharding and real
// pick_first children, over balancertest's fake channel.

// expectedOwner computes, independently of any balancer, the address that
// owns key among addrs (each of weight 1): the ring is built from the
// addresses in sorted order, as the balancer places them.
func expectedOwners(addrs []string, vn int) func(key string) string {
	sorted := slices.Sorted(slices.Values(addrs))
	nodes := make([]ringNode, len(sorted))
	for i, a := range sorted {
		nodes[i] = ringNode{key: a, weight: 1}
	}
	r := newRing(nodes, vn)
	return func(key string) string { return sorted[r.owner(key)] }
}

func addrsOf(eps []resolver.Endpoint) []string {
	var out []string
	for _, ep := range eps {
		out = append(out, ep.Addresses[0].Addr)
	}
	return out
}

func pickAddr(t *testing.T, p balancer.Picker, ctx context.Context) string {
	t.Helper()
	res, err := p.Pick(balancer.PickInfo{Ctx: ctx, FullMethodName: "/s/m"})
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	if res.Done != nil {
		res.Done(balancer.DoneInfo{})
	}
	return res.SubConn.(*balancertest.SubConn).Addrs[0].Addr
}

func build(t *testing.T, config string, eps []resolver.Endpoint) (*chashBalancer, *balancertest.ClientConn, balancer.Picker) {
	t.Helper()
	b, cc, p, err := balancertest.Build(Name, config, eps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.(*chashBalancer), cc, p
}

// Keys go to the owner an independent ring predicts, whatever the order
// of the endpoints in the resolver update.
func TestBalancerOwners(t *testing.T) {
	eps := balancertest.Endpoints(20)
	want := expectedOwners(addrsOf(eps), 0)
	shuffled := slices.Clone(eps)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	_, _, p1 := build(t, "", eps)
	_, _, p2 := build(t, "", shuffled)
	reached := map[string]bool{}
	for i := range 2000 {
		k := "user-" + strconv.Itoa(i)
		a1, a2 := pickAddr(t, p1, keyCtx(k)), pickAddr(t, p2, keyCtx(k))
		if a1 != want(k) || a2 != want(k) {
			t.Fatalf("key %q went to %s and %s, its owner is %s", k, a1, a2, want(k))
		}
		reached[a1] = true
	}
	if len(reached) != len(eps) {
		t.Errorf("2000 keys reached %d of %d endpoints", len(reached), len(eps))
	}
}

// Weights from endpoint.WithWeight give proportional shares.
func TestBalancerWeights(t *testing.T) {
	eps := balancertest.Endpoints(3)
	eps[2] = endpoint.WithWeight(eps[2], 4) // 4 of 6
	_, _, p := build(t, `{"loadFactor":0}`, eps)
	counts := map[string]int{}
	const keys = 30000
	for i := range keys {
		counts[pickAddr(t, p, keyCtx(strconv.Itoa(i)))]++
	}
	if got := float64(counts[eps[2].Addresses[0].Addr]) / keys; got < 0.6 || got > 0.73 {
		t.Errorf("the endpoint of weight 4 of 6 got %.3f of the keys, want about 0.667 (%v)", got, counts)
	}
}

// In-flight counts live in the balancer: a new picker (after a state
// change) and a new ring (after an endpoint set change) still see the
// calls picked before, and their Done still releases them.
func TestBalancerCountersSurviveRebuilds(t *testing.T) {
	eps := balancertest.Endpoints(4)
	b, cc, p := build(t, "", eps)
	owner := expectedOwners(addrsOf(eps), 0)("hot")
	var dones []func(balancer.DoneInfo)
	for range 2 { // 2 calls: the bound for 2 in flight on 4 is ceil(1.25 × 3 / 4) = 1 more? no: check below
		res, err := p.Pick(balancer.PickInfo{Ctx: keyCtx("hot")})
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, res.Done)
	}
	b.mu.Lock()
	info := b.endpoints[owner]
	b.mu.Unlock()
	if info.ctr.n.Load() != 1 || b.total.Load() != 2 {
		t.Fatalf("after 2 picks of a hot key on 4 endpoints: owner has %d in flight, total %d; want 1 and 2", info.ctr.n.Load(), b.total.Load())
	}

	// A state change: another endpoint fails; a new picker.
	var other *balancertest.SubConn
	for _, sc := range cc.SubConns() {
		if a := sc.Addrs[0].Addr; a != owner && other == nil {
			other = sc
		}
	}
	other.SetState(connectivity.TransientFailure)
	p2 := cc.State().Picker
	if p2 == p {
		t.Fatal("no new picker after a state change")
	}
	// 2 in flight, 3 READY: ceil(1.25 × 3 / 3) = 2 ≥ 1 + 1: the owner has
	// room for one more, then not (3 in flight: ceil(1.25 × 4 / 3) = 2).
	if got := pickNoDone(t, p2, "hot", &dones); got != owner {
		t.Errorf("with room, the hot key went to %s, not its owner %s", got, owner)
	}
	if got := pickNoDone(t, p2, "hot", &dones); got == owner {
		t.Errorf("the owner took a third call: the new picker lost the counts")
	}

	// An endpoint set change: a new ring, same counters.
	more := balancertest.Endpoints(5)
	if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: more}, BalancerConfig: b.cfg}); err != nil {
		t.Fatal(err)
	}
	cc.Settle()
	b.mu.Lock()
	same := b.endpoints[owner] == info
	b.mu.Unlock()
	if !same || info.ctr.n.Load() != 2 {
		t.Errorf("after adding an endpoint the owner's counter is new (%v) or lost its calls (%d in flight, want 2)", !same, info.ctr.n.Load())
	}
	for _, d := range dones {
		d(balancer.DoneInfo{})
	}
	if info.ctr.n.Load() != 0 || b.total.Load() != 0 {
		t.Errorf("after every Done: owner %d, total %d in flight", info.ctr.n.Load(), b.total.Load())
	}
}

func pickNoDone(t *testing.T, p balancer.Picker, key string, dones *[]func(balancer.DoneInfo)) string {
	t.Helper()
	res, err := p.Pick(balancer.PickInfo{Ctx: keyCtx(key)})
	if err != nil {
		t.Fatal(err)
	}
	*dones = append(*dones, res.Done)
	return res.SubConn.(*balancertest.SubConn).Addrs[0].Addr
}

// When the owner's connection goes, its keys go to the next endpoint
// clockwise, the owner reconnects by itself, and the keys come back.
func TestBalancerOwnerReconnects(t *testing.T) {
	eps := balancertest.Endpoints(5)
	_, cc, _ := build(t, "", eps)
	owner := expectedOwners(addrsOf(eps), 0)("k")
	var sc *balancertest.SubConn
	for _, s := range cc.SubConns() {
		if s.Addrs[0].Addr == owner {
			sc = s
		}
	}
	sc.SetState(connectivity.Idle) // the connection went away
	if got := pickAddr(t, cc.State().Picker, keyCtx("k")); got == owner {
		t.Fatal("the key went to its IDLE owner")
	}
	// pick_first reconnects (asked by endpointsharding and by the picker);
	// the fake channel makes the SubConn READY once asked.
	wait.For(t, 10*time.Second, "the owner to be READY again", func() bool {
		cc.Settle()
		return pickAddr(t, cc.State().Picker, keyCtx("k")) == owner
	})

	sc.SetState(connectivity.TransientFailure)
	if got := pickAddr(t, cc.State().Picker, keyCtx("k")); got == owner {
		t.Fatal("the key went to its failing owner")
	}
}

// Removing an endpoint moves only its keys; adding it back restores them.
func TestBalancerEndpointSetChange(t *testing.T) {
	eps := balancertest.Endpoints(10)
	b, cc, p := build(t, "", eps)
	keys := testKeys(5000)
	before := make([]string, len(keys))
	for i, k := range keys {
		before[i] = pickAddr(t, p, keyCtx(k))
	}
	update := func(eps []resolver.Endpoint) balancer.Picker {
		t.Helper()
		if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: eps}, BalancerConfig: b.cfg}); err != nil {
			t.Fatal(err)
		}
		cc.Settle()
		return cc.State().Picker
	}
	gone := eps[3].Addresses[0].Addr
	p = update(slices.Delete(slices.Clone(eps), 3, 4))
	moved := 0
	for i, k := range keys {
		got := pickAddr(t, p, keyCtx(k))
		if got == gone {
			t.Fatalf("key %q went to the removed endpoint", k)
		}
		if got != before[i] {
			if before[i] != gone {
				t.Fatalf("key %q moved from %s to %s though %s was removed", k, before[i], got, gone)
			}
			moved++
		}
	}
	if moved == 0 {
		t.Error("no key moved")
	}
	p = update(eps)
	for i, k := range keys {
		if got := pickAddr(t, p, keyCtx(k)); got != before[i] {
			t.Fatalf("after adding %s back, key %q went to %s, not %s", gone, k, got, before[i])
		}
	}
}

func TestBalancerNoEndpoints(t *testing.T) {
	b, cc, _ := build(t, "", balancertest.Endpoints(2))
	err := b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: b.cfg})
	if !errors.Is(err, balancer.ErrBadResolverState) {
		t.Errorf("UpdateClientConnState with no endpoints: %v, want ErrBadResolverState", err)
	}
	st := cc.State()
	if st.ConnectivityState != connectivity.TransientFailure {
		t.Errorf("state %v, want TRANSIENT_FAILURE", st.ConnectivityState)
	}
	if _, err := st.Picker.Pick(balancer.PickInfo{Ctx: keyCtx("k")}); err == nil {
		t.Error("a pick with no endpoints succeeded")
	}
}

// A new config takes effect without a new endpoint set.
func TestBalancerConfigUpdate(t *testing.T) {
	b, cc, p := build(t, "", balancertest.Endpoints(3))
	pickAddr(t, p, context.Background()) // missingKey random
	balancertest.Update(t, b, ParseConfig, `{"missingKey":"error"}`, balancertest.Endpoints(3))
	if _, err := cc.State().Picker.Pick(balancer.PickInfo{Ctx: context.Background()}); err == nil || !strings.Contains(err.Error(), "no hash key") {
		t.Errorf("keyless pick after missingKey became error: %v", err)
	}
	// A new virtualNodes rebuilds the ring.
	balancertest.Update(t, b, ParseConfig, `{"virtualNodes":7}`, balancertest.Endpoints(3))
	b.mu.Lock()
	points := len(b.ring.points)
	b.mu.Unlock()
	if points != 21 {
		t.Errorf("virtualNodes 7 on 3 endpoints: %d points, want 21", points)
	}
	if err := b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: &struct{ Config }{}}); err == nil {
		t.Error("a config of another type was accepted")
	}
}

// Two endpoints that share a first address still get their own points.
func TestBalancerSharedFirstAddress(t *testing.T) {
	eps := balancertest.Endpoints(3)
	eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{eps[0].Addresses[0], {Addr: "10.9.9.9:8080"}}})
	b, _, p := build(t, `{"loadFactor":0}`, eps)
	counts := map[*balancertest.SubConn]int{}
	for i := range 4000 {
		res, err := p.Pick(balancer.PickInfo{Ctx: keyCtx(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		counts[res.SubConn.(*balancertest.SubConn)]++
	}
	if len(counts) != 4 {
		t.Errorf("4000 keys reached %d SubConns of 4 endpoints", len(counts))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ringNodes) != 4 {
		t.Errorf("%d endpoints on the ring, want 4", len(b.ringNodes))
	}
}
