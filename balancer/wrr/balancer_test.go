package wrr

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/policy"
)

// These tests drive the balancer through balancertest's fake channel, whose
// SubConns become READY when the test says, and read the pickers it
// publishes. Slow-start tests set the balancer's clock.

var pickInfo = balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}

// recordingCC is the fake channel, recording every picker published.
type recordingCC struct {
	*balancertest.ClientConn

	mu        sync.Mutex
	published []balancer.State
}

func (c *recordingCC) UpdateState(s balancer.State) {
	c.mu.Lock()
	c.published = append(c.published, s)
	c.mu.Unlock()
	c.ClientConn.UpdateState(s)
}

// updates returns how many states the balancer has published.
func (c *recordingCC) updates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.published)
}

// weighted returns n endpoints (balancertest's addresses) with the given
// weights; endpoints past the weights have none.
func weighted(n int, weights ...uint32) []resolver.Endpoint {
	eps := balancertest.Endpoints(n)
	for i, w := range weights {
		eps[i] = endpoint.WithWeight(eps[i], w)
	}
	return eps
}

func addrOf(i int) string { return balancertest.Endpoints(i + 1)[i].Addresses[0].Addr }

// build builds the policy with the JSON config over eps, all READY.
func build(t *testing.T, config string, eps []resolver.Endpoint) (*wrrBalancer, *recordingCC) {
	t.Helper()
	cc := &recordingCC{ClientConn: &balancertest.ClientConn{}}
	b := balancer.Get(Name).Build(cc, balancer.BuildOptions{}).(*wrrBalancer)
	t.Cleanup(b.Close)
	update(t, b, cc, config, eps)
	return b, cc
}

// update sends the balancer a new config and endpoint list, and makes every
// new SubConn READY.
func update(t *testing.T, b *wrrBalancer, cc *recordingCC, config string, eps []resolver.Endpoint) {
	t.Helper()
	balancertest.Update(t, b, ParseConfig, config, eps)
	cc.Settle()
	if got := readyCount(cc); got != len(eps) {
		t.Fatalf("%d endpoints READY in the picker, want %d", got, len(eps))
	}
}

func readyCount(cc *recordingCC) int {
	p, ok := cc.State().Picker.(*picker)
	if !ok || cc.State().ConnectivityState != connectivity.Ready {
		return 0
	}
	return len(p.pickers)
}

func currentPicker(t *testing.T, cc *recordingCC) *picker {
	t.Helper()
	p, ok := cc.State().Picker.(*picker)
	if !ok {
		t.Fatalf("picker is %T, want *picker", cc.State().Picker)
	}
	return p
}

func pickAddr(t *testing.T, p balancer.Picker) string {
	t.Helper()
	res, err := p.Pick(pickInfo)
	if err != nil {
		t.Fatal(err)
	}
	return res.SubConn.(*balancertest.SubConn).Addrs[0].Addr
}

// tally makes n picks and counts them by address.
func tally(t *testing.T, p balancer.Picker, n int) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for range n {
		counts[pickAddr(t, p)]++
	}
	return counts
}

// shares returns each address's share of a picker's table.
func shares(t *testing.T, p *picker) map[string]float64 {
	t.Helper()
	counts := make(map[string]float64)
	for _, i := range p.table {
		counts[pickAddr(t, p.pickers[i])]++
	}
	for a := range counts {
		counts[a] /= float64(len(p.table))
	}
	return counts
}

// reconnect drops the endpoint at addr's connection (its SubConn goes IDLE,
// as after a lost connection), then, once pick_first has asked to connect
// again (from endpointsharding's goroutine), makes it READY. at runs
// between the two.
func reconnect(t *testing.T, cc *recordingCC, addr string, between func()) {
	t.Helper()
	cc.SubConnOf(t, addr).SetState(connectivity.Idle)
	if between != nil {
		between()
	}
	deadline := time.Now().Add(10 * time.Second)
	for cc.Settle() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not ask to reconnect within 10s", addr)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// failedReconnect is reconnect after failed attempts: the endpoint at
// addr's connection drops, the attempt to connect again fails (its SubConn
// goes CONNECTING, TRANSIENT_FAILURE, then IDLE after the backoff), and
// the next one succeeds. between runs before it does.
func failedReconnect(t *testing.T, cc *recordingCC, addr string, between func()) {
	t.Helper()
	sc := cc.SubConnOf(t, addr)
	for _, s := range []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure} {
		sc.SetState(s)
	}
	if _, ok := shares(t, currentPicker(t, cc))[addr]; ok {
		t.Fatalf("%s still in the picker while it fails to connect", addr)
	}
	reconnect(t, cc, addr, between)
}

// clock is the clock of the testing/synctest bubble the slow-start tests
// run in: Set sleeps until t.
type clock struct{}

func (clock) Now() time.Time  { return time.Now() }
func (clock) Set(t time.Time) { time.Sleep(time.Until(t)) }

// useClock moves the bubble's clock on by an hour: endpoints that became
// READY before are warm.
func useClock(*wrrBalancer) clock {
	time.Sleep(time.Hour)
	return clock{}
}

func TestWeightsRespected(t *testing.T) {
	_, cc := build(t, "", weighted(3, 1, 2, 3))
	p := currentPicker(t, cc)
	counts := tally(t, p, 6000)
	for i, want := range []int{1000, 2000, 3000} {
		if got := counts[addrOf(i)]; got != want {
			t.Errorf("endpoint of weight %d got %d of 6000 picks, want %d: %v", i+1, got, want, counts)
		}
	}
	// Smooth: any 6 consecutive picks hold each endpoint its weight.
	for start := range 12 {
		window := make(map[string]int)
		for range 6 {
			window[pickAddr(t, p)]++
		}
		for i := range 3 {
			if window[addrOf(i)] != i+1 {
				t.Fatalf("6 picks from %d: %v, want weights 1, 2, 3", start, window)
			}
		}
		pickAddr(t, p) // shift the window
	}
}

func TestNoWeightsIsRoundRobin(t *testing.T) {
	_, cc := build(t, "{}", balancertest.Endpoints(5))
	p := currentPicker(t, cc)
	if len(p.table) != 5 {
		t.Errorf("table of %d slots for 5 equal endpoints, want 5", len(p.table))
	}
	for addr, c := range tally(t, p, 5000) {
		if c != 1000 {
			t.Errorf("%s got %d of 5000 picks, want 1000", addr, c)
		}
	}
}

// New weights from the resolver apply to the next picker; an endpoint that
// leaves the list gets no more picks.
func TestWeightsChange(t *testing.T) {
	b, cc := build(t, "", weighted(3, 1, 2, 3))
	update(t, b, cc, "", weighted(3, 3, 2, 1))
	counts := tally(t, currentPicker(t, cc), 600)
	for i, want := range []int{300, 200, 100} {
		if got := counts[addrOf(i)]; got != want {
			t.Errorf("after the change, endpoint %d got %d of 600 picks, want %d: %v", i, got, want, counts)
		}
	}
	update(t, b, cc, "", weighted(2, 1, 4))
	counts = tally(t, currentPicker(t, cc), 500)
	if counts[addrOf(0)] != 100 || counts[addrOf(1)] != 400 || len(counts) != 2 {
		t.Errorf("after dropping one, picks %v, want 100 and 400", counts)
	}
}

// An endpoint that joins three warm ones starts at minWeightPercent of its
// weight and ramps up along (t/window)^(1/aggression) to its full share.
func TestSlowStartRamp(t *testing.T) {
	for _, tc := range []struct {
		config  string
		window  time.Duration
		weight  uint32 // of the new endpoint; the others have 1
		ramp    func(x float64) float64
		minimum float64
	}{
		{`{"slowStart":{"window":"10s"}}`, 10 * time.Second, 1, func(x float64) float64 { return x }, 0.1},
		{`{"slowStart":{"window":"10s","aggression":2,"minWeightPercent":5}}`, 10 * time.Second, 1, math.Sqrt, 0.05},
		{`{"slowStart":{"window":"1m","aggression":0.5,"minWeightPercent":1}}`, time.Minute, 3, func(x float64) float64 { return x * x }, 0.01},
	} {
		t.Run(tc.config, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, cc := build(t, tc.config, balancertest.Endpoints(3))
				clk := useClock(b)
				joined := clk.Now()
				eps := balancertest.Endpoints(4)
				eps[3] = endpoint.WithWeight(eps[3], tc.weight)
				update(t, b, cc, tc.config, eps)
				newAddr := addrOf(3)
				step := max(tc.window/20, minRebuildInterval)
				for _, x := range []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1, 2, 100} {
					age := time.Duration(x * float64(tc.window))
					b.mu.Lock()
					p, next := b.pickerLocked(joined.Add(age))
					b.mu.Unlock()
					f := 1.0
					if x < 1 {
						f = max(tc.ramp(x), tc.minimum)
					}
					w := float64(tc.weight) * f
					want := w / (3 + w)
					got := shares(t, p)[newAddr]
					// Within 1% of the share, or a slot of the table's bound.
					if math.Abs(got-want) > max(want/precision, 1.0/minRoundedLen)+1e-9 {
						t.Errorf("at %v of the window: share %.5f, want %.5f", x, got, want)
					}
					switch {
					case x >= 1 && next != 0:
						t.Errorf("at %v of the window: next rebuild in %v, want none after the ramp", x, next)
					case x < 1 && (next <= 0 || next > step || next > tc.window-age):
						t.Errorf("at %v of the window: next rebuild in %v, want in (0, %v] and by the ramp's end", x, next, step)
					}
				}
			})
		})
	}
}

// Without slow start, or with a 100% floor, a new endpoint gets its full
// share at once and no timer runs.
func TestNoSlowStart(t *testing.T) {
	for _, config := range []string{``, `{"slowStart":{}}`, `{"slowStart":{"window":"10s","minWeightPercent":100}}`} {
		t.Run(config, func(t *testing.T) {
			b, cc := build(t, config, balancertest.Endpoints(3))
			update(t, b, cc, config, balancertest.Endpoints(4))
			if got := shares(t, currentPicker(t, cc))[addrOf(3)]; got != 0.25 {
				t.Errorf("new endpoint's share %v, want 0.25", got)
			}
			b.mu.Lock()
			timer := b.timer
			b.mu.Unlock()
			if timer != nil {
				t.Error("a rebuild timer is set without a ramp")
			}
		})
	}
}

// Slow start through reconnections, by internal/slowstart's rule: a
// reconnection that never went through TRANSIENT_FAILURE (IDLE, CONNECTING,
// READY, as after a graceful GOAWAY for MaxConnectionAge), however long it
// took, keeps the endpoint's place on its ramp, or its being warm; one
// after failed connection attempts (the backend was down or restarted:
// cold) starts the ramp over. An endpoint dropped from the resolver's list
// and back is new.
func TestSlowStartAfterReconnect(t *testing.T) { synctest.Test(t, testSlowStartAfterReconnect) }

func testSlowStartAfterReconnect(t *testing.T) {
	const window = 10 * time.Second
	b, cc := build(t, `{"slowStart":{"window":"10s"}}`, balancertest.Endpoints(2))
	clk := useClock(b)
	t0 := clk.Now()
	addr := addrOf(1)
	share := func() float64 { return shares(t, currentPicker(t, cc))[addr] }

	// Warm, a graceful reconnection, even one longer than the window:
	// still warm.
	reconnect(t, cc, addr, func() { clk.Set(t0.Add(2 * window)) })
	if got := share(); got != 0.5 {
		t.Errorf("warm, after a graceful reconnection: share %v, want 0.5 (still warm)", got)
	}
	// Warm, failed connection attempts: ramps again from 10%.
	t1 := t0.Add(3 * window)
	failedReconnect(t, cc, addr, func() { clk.Set(t1) })
	if got, want := share(), 0.1/1.1; math.Abs(got-want) > 0.001 {
		t.Errorf("warm, after failed connection attempts: share %v, want %v (ramp from the start)", got, want)
	}
	// Mid-ramp, a graceful reconnection keeps the ramp where it is.
	reconnect(t, cc, addr, func() { clk.Set(t1.Add(window / 2)) })
	if got, want := share(), 0.5/1.5; math.Abs(got-want) > 0.001 {
		t.Errorf("mid-ramp, after a graceful reconnection: share %v, want %v (ramp goes on)", got, want)
	}
	// Mid-ramp, failed connection attempts: from the start again.
	failedReconnect(t, cc, addr, func() { clk.Set(t1.Add(window * 3 / 4)) })
	if got, want := share(), 0.1/1.1; math.Abs(got-want) > 0.001 {
		t.Errorf("mid-ramp, after failed connection attempts: share %v, want %v (ramp from the start)", got, want)
	}
	// Dropped from the resolver's list and back: new, ramps from 10%.
	clk.Set(t1.Add(2 * window))
	update(t, b, cc, `{"slowStart":{"window":"10s"}}`, balancertest.Endpoints(1))
	update(t, b, cc, `{"slowStart":{"window":"10s"}}`, balancertest.Endpoints(2))
	if got, want := share(), 0.1/1.1; math.Abs(got-want) > 0.001 {
		t.Errorf("back in the list: share %v, want %v (new)", got, want)
	}
}

// In a testing/synctest bubble: while a new endpoint ramps up the balancer
// publishes a new picker every window/20 (here 100ms), with a growing share
// for it, and stops at the end of the window with the full share.
func TestSlowStartTimer(t *testing.T) { synctest.Test(t, testSlowStartTimer) }

func testSlowStartTimer(t *testing.T) {
	const window = 2 * time.Second
	config := `{"slowStart":{"window":"2s"}}`
	b, cc := build(t, config, balancertest.Endpoints(3))
	// The three are an hour old.
	time.Sleep(time.Hour)
	before := cc.updates()
	start := time.Now()
	update(t, b, cc, config, balancertest.Endpoints(4))
	newAddr := addrOf(3)

	deadline := start.Add(window + 10*time.Second)
	for {
		b.mu.Lock()
		idle := b.timer == nil
		b.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rebuild timer still runs %v after a %v ramp began", time.Since(start), window)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	elapsed := time.Since(start)
	if elapsed < window {
		t.Errorf("the ramp ended after %v, want at least the %v window", elapsed, window)
	}

	cc.mu.Lock()
	published := append([]balancer.State(nil), cc.published[before:]...)
	cc.mu.Unlock()
	var got []float64
	for _, s := range published {
		if p, ok := s.Picker.(*picker); ok && len(p.pickers) == 4 {
			got = append(got, shares(t, p)[newAddr])
		}
	}
	t.Logf("%d pickers during the %v ramp; the new endpoint's shares: %.3f", len(got), elapsed.Round(time.Millisecond), got)
	// 20 steps in 2s, give or take the machine's delays.
	if len(got) < 10 || len(got) > 25 {
		t.Errorf("%d pickers published during the ramp, want about 20", len(got))
	}
	if len(got) > 0 {
		if got[0] > 0.035 {
			t.Errorf("first share %v, want about 0.1/3.1", got[0])
		}
		if last := got[len(got)-1]; last != 0.25 {
			t.Errorf("last share %v, want 0.25", last)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("share went down from %v to %v", got[i-1], got[i])
		}
	}
}

// Close stops the timer, and a run of it already under way does nothing.
func TestCloseStopsTimer(t *testing.T) {
	b, cc := build(t, `{"slowStart":{"window":"1h"}}`, balancertest.Endpoints(3))
	b.mu.Lock()
	seq, ticking := b.timerSeq, b.timer != nil
	b.mu.Unlock()
	if !ticking {
		t.Fatal("no rebuild timer during a ramp")
	}
	b.Close()
	n := cc.updates()
	b.tick(seq) // as a timer that fired just before Close would
	b.mu.Lock()
	timer := b.timer
	b.mu.Unlock()
	if timer != nil {
		t.Error("timer still set after Close")
	}
	if cc.updates() != n {
		t.Error("a picker was published after Close")
	}
}

// With no endpoint READY the balancer passes endpointsharding's state on,
// and READY endpoints take over again when they come.
func TestNoReadyEndpoint(t *testing.T) {
	_, cc := build(t, `{"slowStart":{"window":"1s"}}`, balancertest.Endpoints(2))
	for i := range 2 {
		cc.SubConnOf(t, addrOf(i)).SetState(connectivity.TransientFailure)
	}
	if st := cc.State(); st.ConnectivityState == connectivity.Ready {
		t.Fatalf("state %v with no endpoint READY", st.ConnectivityState)
	}
	if _, ok := cc.State().Picker.(*picker); ok {
		t.Fatal("a wrr picker with no endpoint READY")
	}
	for i := range 2 {
		cc.SubConnOf(t, addrOf(i)).SetState(connectivity.Ready)
	}
	if readyCount(cc) != 2 {
		t.Fatalf("%d endpoints in the picker after both came back, want 2", readyCount(cc))
	}
}

// Endpoints flap, weights change and ramps tick while callers pick from
// whatever picker is current: no pick fails, and (under -race) nothing
// races. No goroutine is left behind (TestMain).
func TestFlappingWithConcurrentPicks(t *testing.T) {
	const n = 5
	config := `{"slowStart":{"window":"200ms","minWeightPercent":1}}`
	b, cc := build(t, config, balancertest.Endpoints(n))
	var (
		stop   atomic.Bool
		picks  atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				st := cc.State()
				if st.ConnectivityState != connectivity.Ready {
					continue
				}
				if _, err := st.Picker.Pick(pickInfo); err != nil {
					failed.Add(1)
				}
				picks.Add(1)
			}
		})
	}
	for round := range 60 {
		addr := addrOf(round % n)
		switch round % 3 {
		case 0:
			reconnect(t, cc, addr, nil)
		case 1:
			eps := balancertest.Endpoints(n)
			for i := range eps {
				eps[i] = endpoint.WithWeight(eps[i], uint32(1+(i+round)%4))
			}
			update(t, b, cc, config, eps[:n-1-round%2])
		case 2:
			update(t, b, cc, config, balancertest.Endpoints(n))
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d picks, %d failed, %d pickers published", picks.Load(), failed.Load(), cc.updates())
	if failed.Load() != 0 {
		t.Errorf("%d picks failed on a READY picker", failed.Load())
	}
	if picks.Load() == 0 {
		t.Error("no picks made")
	}
}

// Pick allocates nothing, with weights, during a ramp, and at any number of
// endpoints.
func TestPickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, tc := range []struct {
		config string
		eps    []resolver.Endpoint
	}{
		{``, balancertest.Endpoints(1)},
		{``, weighted(3, 1, 2, 3)},
		{`{"slowStart":{"window":"1h"}}`, weighted(100, 5, 1, 7)},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.config, len(tc.eps)), func(t *testing.T) {
			_, cc := build(t, tc.config, tc.eps)
			p := currentPicker(t, cc)
			if allocs := balancertest.PickAllocs(t, p, pickInfo, balancer.DoneInfo{}); allocs != 0 {
				t.Errorf("Pick allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// childWithDone is a READY child's picker whose picks carry a Done, so the
// picker cannot skip it.
type childWithDone struct {
	sc    balancer.SubConn
	dones *atomic.Int32
}

func (c childWithDone) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{SubConn: c.sc, Done: func(balancer.DoneInfo) { c.dones.Add(1) }}, nil
}

// A pick returns the SubConn a READY pick_first child always returns,
// without calling the child's picker (policy.SteadySubConn); a child whose
// picker hands out a Done is called on every pick and its Done kept.
func TestSteadyChildrenAreNotCalled(t *testing.T) {
	_, cc := build(t, "", weighted(3, 1, 2, 3))
	p := currentPicker(t, cc)
	for i, sc := range p.steady {
		if sc == nil {
			t.Fatalf("endpoint %d: no steady SubConn from its READY pick_first child", i)
		}
		res, err := p.pickers[i].Pick(pickInfo)
		if err != nil || res.SubConn != sc {
			t.Fatalf("endpoint %d: steady SubConn %v, its child picks %v (%v)", i, sc, res.SubConn, err)
		}
	}

	var dones atomic.Int32
	sc := p.steady[0]
	withDone := &picker{
		pickers: []balancer.Picker{childWithDone{sc: sc, dones: &dones}},
		steady:  []balancer.SubConn{policy.SteadySubConn(childWithDone{sc: sc, dones: &dones})},
		table:   []uint32{0},
	}
	for range 10 {
		res, err := withDone.Pick(pickInfo)
		if err != nil || res.SubConn != sc || res.Done == nil {
			t.Fatalf("pick through a child with a Done: %+v, %v", res, err)
		}
		res.Done(balancer.DoneInfo{})
	}
	if got := dones.Load(); got != 10 {
		t.Errorf("the child's Done ran %d times over 10 picks, want 10", got)
	}
}
