package outlier

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	_ "github.com/grpclb/grpclb/balancer/pool"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests drive the policy on a fake channel (balancertest), whose
// SubConns are READY on request, to check what the child sees; the
// end-to-end tests check the same against real backends.

var (
	unavailable = balancer.DoneInfo{Err: status.Error(codes.Unavailable, "down"), BytesSent: true}
	answered    = balancer.DoneInfo{BytesSent: true, BytesReceived: true}
)

func build(t *testing.T, config string, eps []resolver.Endpoint) (*outlierBalancer, *balancertest.ClientConn) {
	t.Helper()
	b, cc, _, err := balancertest.Build(Name, config, eps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	// Health updates reach the child through the policy's goroutine: wait
	// until the picker reaches every endpoint.
	wait.For(t, 5*time.Second, "every endpoint is picked", func() bool {
		seen := make(map[string]bool)
		for range 20 * len(eps) {
			seen[pick(cc, balancer.DoneInfo{})] = true
		}
		return len(seen) == len(eps) && !seen[""]
	})
	return b.(*outlierBalancer), cc
}

func addrOf(res balancer.PickResult) string { return res.SubConn.(*balancertest.SubConn).Addrs[0].Addr }

// pick makes one call with the channel's current picker and ends it with
// done; it returns the address picked, or "" if the pick failed.
func pick(cc *balancertest.ClientConn, done balancer.DoneInfo) string {
	res, err := cc.State().Picker.Pick(balancer.PickInfo{Ctx: context.Background()})
	if err != nil {
		return ""
	}
	if res.Done != nil {
		res.Done(done)
	}
	return addrOf(res)
}

// childStates returns the state of each endpoint as the endpointsharding
// child (round_robin, p2c_ewma, ...) last reported it, by address.
func childStates(cc *balancertest.ClientConn) map[string]connectivity.State {
	var child balancer.Picker
	switch p := cc.State().Picker.(type) {
	case *picker:
		child = p.child
	case *rrPicker:
		child = p.child
	default:
		return nil
	}
	out := make(map[string]connectivity.State)
	for _, c := range endpointsharding.ChildStatesFromPicker(child) {
		out[c.Endpoint.Addresses[0].Addr] = c.State.ConnectivityState
	}
	return out
}

// failUntilEjected sends the calls that land on victim failing and the
// others succeeding until the picker returns victim no more, and returns
// how many calls failed.
func failUntilEjected(t *testing.T, cc *balancertest.ClientConn, victim string) int {
	t.Helper()
	failures := 0
	for range 1000 {
		res, err := cc.State().Picker.Pick(balancer.PickInfo{Ctx: context.Background()})
		if err != nil {
			t.Fatalf("pick: %v", err)
		}
		if addrOf(res) != victim {
			res.Done(answered)
			continue
		}
		failures++
		res.Done(unavailable)
	}
	return failures
}

// With round_robin (endpointsharding + pick_first with health listeners)
// as the child, consecutive failures eject the endpoint at once, the child
// sees it in TRANSIENT_FAILURE until the ejection time is up, then READY
// again.
func TestConsecutiveFailuresHealthListener(t *testing.T) {
	eps := balancertest.Endpoints(3)
	victim := eps[1].Addresses[0].Addr
	b, cc := build(t, `{"consecutiveFailures":{"threshold":3},"baseEjectionTime":"300ms","childPolicy":[{"round_robin":{}}]}`, eps)

	if failures := failUntilEjected(t, cc, victim); failures != 3 {
		t.Errorf("%d calls to the victim failed, want exactly the threshold 3", failures)
	}
	wait.For(t, 5*time.Second, "the child sees the victim in TRANSIENT_FAILURE", func() bool {
		return childStates(cc)[victim] == connectivity.TransientFailure
	})
	b.mu.Lock()
	if b.numEjected != 1 {
		t.Errorf("%d endpoints ejected, want 1", b.numEjected)
	}
	b.mu.Unlock()
	start := time.Now()
	wait.For(t, 5*time.Second, "the victim comes back", func() bool { return childStates(cc)[victim] == connectivity.Ready })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the victim came back after %v, want about 300ms", d)
	}
	wait.For(t, 5*time.Second, "the victim gets calls again", func() bool { return pick(cc, answered) == victim })
}

// With pool as the child, which never registers health listeners, the
// child sees the ejected endpoint's READY SubConns as TRANSIENT_FAILURE on
// their state listeners, and its own picker stops returning them.
func TestConsecutiveFailuresStateListener(t *testing.T) {
	eps := balancertest.Endpoints(3)
	victim := eps[0].Addresses[0].Addr
	_, cc := build(t, `{"consecutiveFailures":{"threshold":2},"baseEjectionTime":"300ms","childPolicy":[{"pool":{"connections":2}}]}`, eps)

	if failures := failUntilEjected(t, cc, victim); failures != 2 {
		t.Errorf("%d calls to the victim failed, want exactly the threshold 2", failures)
	}
	childPicks := func() map[string]int {
		seen := make(map[string]int)
		p := cc.State().Picker.(*picker)
		for range 60 {
			res, err := p.child.Pick(balancer.PickInfo{Ctx: context.Background()})
			if err != nil {
				continue
			}
			seen[res.SubConn.(*subConn).addr]++
			if res.Done != nil {
				res.Done(balancer.DoneInfo{})
			}
		}
		return seen
	}
	wait.For(t, 5*time.Second, "pool stops picking the victim", func() bool { return childPicks()[victim] == 0 })
	wait.For(t, 5*time.Second, "pool picks the victim again", func() bool { return childPicks()[victim] > 0 })
}

// Never more than maxEjectionPercent of the endpoints, and never the last
// one below 100%.
func TestMaxEjectionPercent(t *testing.T) {
	eps := balancertest.Endpoints(4)
	b, cc := build(t, `{"consecutiveFailures":{"threshold":1},"maxEjectionPercent":50,"childPolicy":[{"round_robin":{}}]}`, eps)
	// Every call fails.
	for range 200 {
		pick(cc, unavailable)
	}
	b.mu.Lock()
	ejected := b.numEjected
	b.mu.Unlock()
	if ejected != 2 {
		t.Errorf("%d of 4 endpoints ejected with maxEjectionPercent 50, want 2", ejected)
	}
	wait.For(t, 5*time.Second, "the child sees 2 endpoints in TRANSIENT_FAILURE", func() bool {
		tf := 0
		for _, s := range childStates(cc) {
			if s == connectivity.TransientFailure {
				tf++
			}
		}
		return tf == 2
	})
	seen := make(map[string]bool)
	for range 100 {
		seen[pick(cc, unavailable)] = true
	}
	if len(seen) != 2 || seen[""] {
		t.Errorf("calls went to %v, want the 2 endpoints not ejected", seen)
	}
}

// A new resolver list forgets removed endpoints, ejected ones included,
// and a new child policy replaces the old one.
func TestUpdates(t *testing.T) {
	eps := balancertest.Endpoints(3)
	victim := eps[2].Addresses[0].Addr
	b, cc := build(t, `{"consecutiveFailures":{"threshold":1},"maxEjectionPercent":50,"childPolicy":[{"round_robin":{}}]}`, eps)
	failUntilEjected(t, cc, victim)

	balancertest.Update(t, b, ParseConfig, `{"consecutiveFailures":{"threshold":1},"childPolicy":[{"p2c_ewma":{}}]}`, eps[:2])
	b.mu.Lock()
	if b.numEjected != 0 || b.endpoints.Len() != 2 {
		t.Errorf("after removing the ejected endpoint: %d ejected of %d, want 0 of 2", b.numEjected, b.endpoints.Len())
	}
	b.mu.Unlock()
	wait.For(t, 5*time.Second, "p2c_ewma serves both endpoints", func() bool {
		cc.Settle()
		seen := map[string]bool{}
		for range 50 {
			seen[pick(cc, answered)] = true
		}
		return len(seen) == 2 && !seen[""] && !seen[victim]
	})
	if n := countShutdown(cc); n < 3 {
		t.Errorf("%d SubConns shut down, want round_robin's 3", n)
	}
}

func countShutdown(cc *balancertest.ClientConn) int {
	n := 0
	for _, sc := range cc.SubConns() {
		if sc.IsShutdown() {
			n++
		}
	}
	return n
}

// checkCopies fails the test if a SubConn's copy of its endpoint's ejection
// flag, which picks read, differs from the flag.
func checkCopies(t *testing.T, b *outlierBalancer, when string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for sc := range b.subConns {
		if got, want := sc.ejectedCopy.Load(), sc.ejected(); got != want {
			t.Errorf("%s: SubConn %s reads ejected=%v, its endpoint says %v", when, sc.addr, got, want)
		}
	}
}

// A SubConn's copy of the ejection flag follows ejection, its end, the
// removal of an ejected endpoint, and its address moving to another
// endpoint.
func TestEjectedCopyFollowsTheEndpoint(t *testing.T) {
	eps := balancertest.Endpoints(3)
	victim := eps[0].Addresses[0].Addr
	b, cc := build(t, `{"consecutiveFailures":{"threshold":1},"baseEjectionTime":"200ms","maxEjectionPercent":50,"childPolicy":[{"round_robin":{}}]}`, eps)
	checkCopies(t, b, "at start")
	failUntilEjected(t, cc, victim)
	checkCopies(t, b, "after the ejection")
	b.mu.Lock()
	var vsc *subConn
	for sc := range b.subConns {
		if sc.addr == victim && !sc.shutdown.Load() {
			vsc = sc
		}
	}
	b.mu.Unlock()
	if vsc == nil || !vsc.ejectedCopy.Load() {
		t.Fatalf("the victim's SubConn %v does not read as ejected", vsc)
	}
	// Its address moves to a fresh endpoint (not ejected): the SubConn
	// must read as not ejected.
	b.mu.Lock()
	fresh := b.newEndpoint("[" + victim + "]")
	b.byAddr[victim] = fresh
	b.linkLocked(vsc)
	b.mu.Unlock()
	if vsc.ejectedCopy.Load() {
		t.Error("after its address moved to an endpoint that is not ejected, the SubConn still reads as ejected")
	}
	checkCopies(t, b, "after the move")
	wait.For(t, 5*time.Second, "the ejection ends", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.numEjected == 0
	})
	checkCopies(t, b, "after the ejection ended")
	failUntilEjected(t, cc, eps[1].Addresses[0].Addr)
	balancertest.Update(t, b, ParseConfig, `{"consecutiveFailures":{"threshold":1},"childPolicy":[{"round_robin":{}}]}`, eps[:1])
	checkCopies(t, b, "after the ejected endpoint was removed")
}
