package p2c

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// build builds the policy over n fake endpoints, all READY.
func build(t *testing.T, n int, config string) (*p2cBalancer, *balancertest.ClientConn, *picker) {
	t.Helper()
	bal, cc, p, err := balancertest.Build(Name, config, balancertest.Endpoints(n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bal.Close)
	pp, ok := p.(*picker)
	if !ok {
		t.Fatalf("READY picker is %T, want *picker", p)
	}
	if len(pp.endpoints) != n {
		t.Fatalf("picker has %d endpoints, want %d", len(pp.endpoints), n)
	}
	return bal.(*p2cBalancer), cc, pp
}

func endpoint(addr string) resolver.Endpoint {
	return resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}}
}

// statsOf returns the balancer's stats of the endpoint at addr, or nil.
func (b *p2cBalancer) statsOf(addr string) *endpointStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.statsOfLocked(addr)
}

func (b *p2cBalancer) statsOfLocked(addr string) *endpointStats {
	s, _ := b.stats.Get(endpoint(addr))
	return s
}

func addrOf(res balancer.PickResult) string {
	return res.SubConn.(*balancertest.SubConn).Addrs[0].Addr
}

var (
	pickInfo = balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}
	// noSample completes a call without touching the EWMA (grpc-go's "the
	// transport was not ready" Done), so picks see fixed EWMAs.
	noSample = balancer.DoneInfo{}
	success  = balancer.DoneInfo{BytesSent: true, BytesReceived: true}
)

// tallyAt makes n picks at the instant now (no time passes, so no probe
// falls due), each completed at once without a sample, and counts them by
// endpoint address.
func tallyAt(t *testing.T, p *picker, n int, now int64) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for range n {
		res, tr, err := p.pick(pickInfo, now)
		if err != nil {
			t.Fatal(err)
		}
		counts[addrOf(res)]++
		tr.finishAt(noSample, now)
	}
	return counts
}

// tally makes n picks, each completed at once with info, and counts them by
// endpoint address.
func tally(t *testing.T, p balancer.Picker, n int, info balancer.DoneInfo) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for range n {
		res, err := p.Pick(pickInfo)
		if err != nil {
			t.Fatal(err)
		}
		counts[addrOf(res)]++
		res.Done(info)
	}
	return counts
}

// With two endpoints every pick compares both: the cheaper one always
// wins. Sampling with replacement (as least_request does) would draw the
// dearer one twice in a quarter of the picks.
func TestPickTwoEndpointsComparesBoth(t *testing.T) {
	_, _, p := build(t, 2, "")
	held, err := p.Pick(pickInfo) // one call in flight on one endpoint
	if err != nil {
		t.Fatal(err)
	}
	busy := addrOf(held)
	counts := tally(t, p, 10000, noSample)
	if counts[busy] != 0 {
		t.Errorf("the endpoint with a call in flight got %d of 10000 picks, want 0: %v", counts[busy], counts)
	}
	held.Done(noSample)
}

// Two distinct endpoints: no pick compares an endpoint with itself, so the
// dearest of n endpoints is never picked.
func TestPickNeverPicksTheDearest(t *testing.T) {
	for _, n := range []int{2, 3, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b, _, p := build(t, n, "")
			equalize(p)
			dear := p.endpoints[n-1]
			dear.stats.ewma.Store(math.Float64bits(1 * sec))
			counts := tallyAt(t, p, 20000, dear.stats.last.Load())
			for addr, c := range counts {
				if b.statsOf(addr) == dear.stats {
					t.Errorf("the endpoint with a 1s EWMA got %d of 20000 picks, want 0", c)
				}
			}
		})
	}
}

func TestPickAvoidsEndpointWithManyCallsInFlight(t *testing.T) {
	b, _, p := build(t, 10, "")
	equalize(p)
	const busy = "10.0.0.3:8080"
	s := b.statsOf(busy)
	s.inFlight.Add(20)
	counts := tally(t, p, 10000, noSample)
	if counts[busy] != 0 {
		t.Errorf("the endpoint with 20 calls in flight got %d of 10000 picks, want 0: %v", counts[busy], counts)
	}
	s.inFlight.Add(-20)
	counts = tally(t, p, 10000, noSample)
	checkEven(t, counts, 10, 10000, 0.2)
}

// equalize gives every endpoint of p the same sampled EWMA and time of last
// sample and pick, so that their costs are equal while nothing is in
// flight and no probe is due for the next second. (Endpoints become READY
// one by one, so their stats are made, and their default RTTs start
// decaying, at slightly different times.)
func equalize(p *picker) {
	now := nanotime()
	for _, e := range p.endpoints {
		e.stats.ewma.Store(math.Float64bits(1 * ms))
		e.stats.last.Store(now)
		e.stats.lastPick.Store(now)
		e.stats.sampled.Store(true)
	}
}

// Picks that pile up (no call finishes) spread like least-loaded: no
// endpoint gets far more than its share.
func TestPickBalancesCallsInFlight(t *testing.T) {
	_, _, p := build(t, 10, "")
	var held []balancer.PickResult
	now := nanotime() // all at once: no stall to tell the endpoints apart
	for range 200 {
		res, _, err := p.pick(pickInfo, now)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, res)
	}
	var inFlight []int64
	for _, e := range p.endpoints {
		inFlight = append(inFlight, e.stats.inFlight.Load())
	}
	// Random placement would leave the busiest endpoint near 30; P2C keeps
	// it within a few of the mean of 20.
	if hi := slices.Max(inFlight); hi > 23 {
		t.Errorf("calls in flight per endpoint %v: the busiest has %d, want at most 23", inFlight, hi)
	}
	for _, res := range held {
		res.Done(noSample)
	}
}

// With equal costs the first of the two random choices wins, so picks
// spread evenly.
func TestPickSpreadsEvenlyOnEqualCosts(t *testing.T) {
	_, _, p := build(t, 10, "")
	equalize(p)
	const picks = 20000
	counts := tally(t, p, picks, noSample)
	checkEven(t, counts, 10, picks, 0.2)
}

func checkEven(t *testing.T, counts map[string]int, n, picks int, tolerance float64) {
	t.Helper()
	if len(counts) != n {
		t.Fatalf("picks reached %d of %d endpoints: %v", len(counts), n, counts)
	}
	want := float64(picks) / float64(n)
	for addr, c := range counts {
		if math.Abs(float64(c)-want) > tolerance*want {
			t.Errorf("%s got %d picks, want %.0f ± %.0f%%: %v", addr, c, want, 100*tolerance, counts)
		}
	}
}

func TestPickSingleEndpoint(t *testing.T) {
	_, _, p := build(t, 1, "")
	counts := tally(t, p, 100, success)
	if len(counts) != 1 || counts["10.0.0.0:8080"] != 100 {
		t.Errorf("picks = %v, want all 100 on 10.0.0.0:8080", counts)
	}
	if n := p.endpoints[0].stats.inFlight.Load(); n != 0 {
		t.Errorf("in flight = %d, want 0", n)
	}
	if e := p.endpoints[0].stats.load(); e >= float64(DefaultRTT) {
		t.Errorf("EWMA %v after 100 fast calls, want below the default %v", time.Duration(e), DefaultRTT)
	}
}

// An endpoint that was slow once and then got no traffic is probed once it
// has had no pick for staleAfter (at most the probe interval), by one call
// at a time; the probe's sample, after so long without one, replaces its
// EWMA.
func TestSlowEndpointIsNotStarved(t *testing.T) {
	b, _, p := build(t, 2, `{"probeInterval":"1s"}`)
	equalize(p)
	slow, fast := b.statsOf("10.0.0.0:8080"), b.statsOf("10.0.0.1:8080")
	now := nanotime()
	slow.ewma.Store(math.Float64bits(1 * sec))

	if counts := tallyAt(t, p, 1000, slow.last.Load()); counts["10.0.0.0:8080"] != 0 {
		t.Fatalf("the slow endpoint got %d of 1000 picks right after its slow call, want 0", counts["10.0.0.0:8080"])
	}
	// A second later (on the test's clock) a probe is due.
	later := now + int64(time.Second)
	fast.lastPick.Store(later)
	probe, tr, err := p.pick(pickInfo, later)
	if err != nil {
		t.Fatal(err)
	}
	if addrOf(probe) != "10.0.0.0:8080" {
		t.Fatalf("pick a probe interval after the slow endpoint's last went to %s, want the slow endpoint", addrOf(probe))
	}
	// While the probe is in flight the endpoint costs its full EWMA: no
	// second probe.
	for range 1000 {
		res, tr, err := p.pick(pickInfo, later)
		if err != nil {
			t.Fatal(err)
		}
		if addrOf(res) == "10.0.0.0:8080" {
			t.Fatalf("with its probe in flight the slow endpoint got another pick")
		}
		tr.finishAt(noSample, later)
	}
	// The backend is fast again: the probe takes 1ms, and its sample, a
	// second after the last, replaces the 1s EWMA.
	tr.finishAt(success, later+int64(time.Millisecond))
	if got := slow.load(); got != 1*ms {
		t.Errorf("EWMA after a 1ms probe a second after the slow call = %v, want 1ms", time.Duration(got))
	}
}

// A backend failing fast with Unavailable is avoided, not preferred for
// its speed; cancelled calls change nothing.
func TestPickAvoidsFailingEndpoint(t *testing.T) {
	_, _, p := build(t, 2, "")
	now := nanotime()
	res, tr, err := p.pick(pickInfo, now)
	if err != nil {
		t.Fatal(err)
	}
	bad := addrOf(res)
	tr.finishAt(balancer.DoneInfo{Err: errUnavailable}, now)
	// On the test's clock, so that no probe falls due.
	counts := tallyAt(t, p, 1000, now)
	if counts[bad] != 0 {
		t.Errorf("the endpoint that failed with Unavailable got %d of 1000 picks, want 0", counts[bad])
	}
}

// Stats live in the balancer, keyed by endpoint: they survive new pickers
// and a new resolver list that keeps the endpoint. An endpoint that leaves
// READY (a reconnect after a GOAWAY, a restarted backend) or the list is
// forgotten, and when it is READY again it starts afresh, unsampled, at the
// median EWMA of the others: a restarted backend does not inherit the
// penalty of its previous process.
func TestStatsSurviveUpdates(t *testing.T) {
	b, cc, _ := build(t, 3, `{"defaultRTT":"7ms"}`)
	s0 := b.statsOf("10.0.0.0:8080")
	s1 := b.statsOf("10.0.0.1:8080")
	if s0.load() != 7*ms {
		t.Fatalf("a new endpoint's EWMA = %v, want the configured 7ms", time.Duration(s0.load()))
	}
	s0.observe(50*ms, nanotime(), tenSeconds, answered)
	s1.observe(60*ms, nanotime(), tenSeconds, answered)

	update := func(eps []resolver.Endpoint, config string) {
		t.Helper()
		balancertest.Update(t, b, ParseConfig, config, eps)
		cc.Settle()
	}
	// A fourth endpoint, and a new default RTT for new endpoints, which
	// the new one does not get: it starts at the median EWMA of the
	// endpoints sampled so far (of 50ms and 60ms, the upper).
	update(balancertest.Endpoints(4), `{"defaultRTT":"3ms"}`)
	if got := b.statsOf("10.0.0.0:8080"); got != s0 || got.load() != 50*ms {
		t.Errorf("after adding an endpoint: stats of 10.0.0.0 = %p (EWMA %v), want %p (50ms)", got, time.Duration(got.load()), s0)
	}
	if s3 := b.statsOf("10.0.0.3:8080"); s3 == nil || s3.load() != 60*ms || s3.sampled.Load() {
		t.Errorf("stats of the new endpoint = %+v, want an unsampled EWMA of 60ms", s3)
	}
	p := cc.State().Picker.(*picker)
	if len(p.endpoints) != 4 || p.params.defaultRTT != 3*ms {
		t.Errorf("new picker has %d endpoints and default RTT %v, want 4 and 3ms", len(p.endpoints), time.Duration(p.params.defaultRTT))
	}

	// 10.0.0.1 (EWMA 60ms) reconnects: its SubConn goes IDLE (as on a
	// GOAWAY, or when its backend is killed), then endpointsharding
	// reconnects it.
	var sc *balancertest.SubConn
	for _, c := range cc.SubConns() {
		if c.Addrs[0].Addr == "10.0.0.1:8080" {
			sc = c
		}
	}
	sc.SetState(connectivity.Idle)
	if inPicker(cc, s1) {
		t.Errorf("an IDLE endpoint is still in the picker")
	}
	if b.statsOf("10.0.0.1:8080") != nil {
		t.Errorf("an IDLE endpoint kept its stats")
	}
	wait.For(t, 10*time.Second, "the endpoint to reconnect", func() bool {
		cc.Settle()
		s := b.statsOf("10.0.0.1:8080")
		return s != nil && inPicker(cc, s)
	})
	// The median of 10.0.0.0's 50ms and the new one's unsampled prior is
	// not counted: only sampled endpoints make the prior (50ms).
	if got := b.statsOf("10.0.0.1:8080"); got == s1 || got.sampled.Load() || got.load() != 50*ms {
		t.Errorf("after a reconnect: stats of 10.0.0.1 = %p (EWMA %v, sampled %v), want new, unsampled ones at 50ms",
			got, time.Duration(got.load()), got.sampled.Load())
	}

	// 10.0.0.0 leaves the list, then comes back: it starts afresh, at the
	// default RTT now that no endpoint has been sampled.
	update(balancertest.Endpoints(4)[1:], `{}`)
	if got := b.statsOf("10.0.0.0:8080"); got != nil {
		t.Errorf("an endpoint removed from the list kept its stats")
	}
	update(balancertest.Endpoints(4), `{}`)
	if got := b.statsOf("10.0.0.0:8080"); got == nil || got == s0 || got.load() != 10*ms || got.sampled.Load() {
		t.Errorf("an endpoint back in the list has stats %p (EWMA %v), want new, unsampled ones at the default 10ms", got, time.Duration(got.load()))
	}
}

func inPicker(cc *balancertest.ClientConn, s *endpointStats) bool {
	p, ok := cc.State().Picker.(*picker)
	if !ok {
		return false
	}
	for _, e := range p.endpoints {
		if e.stats == s {
			return true
		}
	}
	return false
}

func TestUpdateClientConnStateConfig(t *testing.T) {
	b, cc, _ := build(t, 2, "")
	state := resolver.State{Endpoints: balancertest.Endpoints(2)}
	// No config at all (the policy built without a service config): the
	// defaults.
	if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: state}); err != nil {
		t.Errorf("UpdateClientConnState without a config: %v", err)
	}
	if p := cc.State().Picker.(*picker); p.params.invDecay != 1/float64(DefaultDecay) {
		t.Errorf("decay without a config = %v, want the default", time.Duration(1/p.params.invDecay))
	}
	// A config of another policy is refused.
	type otherConfig struct{ Config }
	err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: state, BalancerConfig: &otherConfig{}})
	if err != balancer.ErrBadResolverState {
		t.Errorf("UpdateClientConnState with a %T: %v, want ErrBadResolverState", &otherConfig{}, err)
	}
}

// No endpoint READY: the channel gets endpointsharding's state and picker,
// which queue calls while endpoints reconnect.
func TestNoReadyEndpoint(t *testing.T) {
	b, cc, _ := build(t, 2, "")
	for _, sc := range cc.SubConns() {
		sc.SetState(connectivity.Connecting)
	}
	// pick_first reports a READY SubConn that moves on as IDLE.
	st := cc.State()
	if st.ConnectivityState == connectivity.Ready {
		t.Errorf("state with no endpoint READY = %v", st.ConnectivityState)
	}
	if _, ok := st.Picker.(*picker); ok {
		t.Errorf("a P2C picker with no endpoint READY")
	}
	if _, err := st.Picker.Pick(pickInfo); err != balancer.ErrNoSubConnAvailable {
		t.Errorf("Pick with no endpoint READY: %v, want ErrNoSubConnAvailable", err)
	}
	if b.statsOf("10.0.0.0:8080") != nil {
		t.Errorf("endpoints kept their stats while not READY")
	}
}

// Picks and Dones from many goroutines while the endpoint list changes:
// for the race detector, and every call is counted out in the end.
func TestConcurrentPicksAndUpdates(t *testing.T) {
	b, cc, _ := build(t, 8, "")
	outcomes := []balancer.DoneInfo{success, noSample, {Err: errUnavailable}, {Err: context.Canceled}}
	stop := balancertest.Workers(4, func(g, i int) {
		res, err := cc.State().Picker.Pick(pickInfo)
		if err != nil {
			return // CONNECTING for a moment
		}
		res.Done(outcomes[(g+i)%len(outcomes)])
	})
	all := balancertest.Endpoints(8)
	for i := range 200 {
		lo, hi := i%4, 4+i%5
		if err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: resolver.State{Endpoints: all[lo:hi]}}); err != nil {
			t.Fatal(err)
		}
		cc.Settle()
	}
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for addr, s := range b.stats.All() {
		if n := s.inFlight.Load(); n != 0 {
			t.Errorf("%s has %d calls in flight after every call finished", addr, n)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, n := range []int{1, 2, 1000} {
		_, _, p := build(t, n, "")
		for _, done := range []balancer.DoneInfo{success, {Err: errUnavailable}, noSample} {
			if allocs := balancertest.PickAllocs(t, p, pickInfo, done); allocs != 0 {
				t.Errorf("%d endpoints, Done(%+v): %v allocations per Pick and Done, want 0", n, done, allocs)
			}
		}
	}
}

// A picker's endpoint has its slow-start weight while its ramp runs (the
// ramp itself is internal/slowstart's), and 1 when it is not ramping.
func TestPickEndpointWeight(t *testing.T) {
	sec := int64(time.Second)
	for _, tc := range []struct {
		cfg       SlowStart
		rampStart int64
		age       int64
		want      float64
	}{
		{SlowStart{}, 1000, 0, 1},
		{SlowStart{Window: time.Second, Aggression: 1, MinWeightPercent: 10}, 0, 0, 1}, // not ramping
		{SlowStart{Window: time.Second, Aggression: 1, MinWeightPercent: 10}, 1000, 0, 0.1},
		{SlowStart{Window: time.Second, Aggression: 1, MinWeightPercent: 10}, 1000, sec / 2, 0.5},
		{SlowStart{Window: time.Second, Aggression: 1, MinWeightPercent: 10}, 1000, sec, 1},
		{SlowStart{Window: time.Second, Aggression: 2, MinWeightPercent: 10}, 1000, sec / 4, 0.5},
		{SlowStart{Window: time.Second, Aggression: 1, MinWeightPercent: 50}, 1000, sec / 4, 0.5},
		{SlowStart{Window: time.Second}, 1000, sec / 2, 0.5}, // zero fields: the defaults
	} {
		cfg := defaultConfig()
		cfg.SlowStart = tc.cfg
		p := newParams(cfg)
		e := pickEndpoint{rampStart: tc.rampStart}
		if got := e.weight(1000+tc.age, p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%+v, ramp started at %v, at %v: weight %v, want %v", tc.cfg, tc.rampStart, time.Duration(tc.age), got, tc.want)
		}
	}
}

// rampStartOf returns the current picker's ramp start of the endpoint at
// addr (0: not ramping), and whether the picker has that endpoint.
func rampStartOf(cc *balancertest.ClientConn, addr string) (int64, bool) {
	p, ok := cc.State().Picker.(*picker)
	if !ok {
		return 0, false
	}
	for i, e := range p.endpoints {
		if res, err := p.pickers[i].Pick(pickInfo); err == nil && addrOf(res) == addr {
			return e.rampStart, true
		}
	}
	return 0, false
}

// Slow start: an endpoint that joins three others with the same EWMA gets
// a share of picks that grows with its weight, and an even share after its
// window; without slow start it gets an even share at once. Picks run on a
// clock of the test's own, 10µs apart; the balancer runs in a
// testing/synctest bubble.
func TestSlowStartRampsNewEndpointUp(t *testing.T) { synctest.Test(t, testSlowStartRampsNewEndpointUp) }

func testSlowStartRampsNewEndpointUp(t *testing.T) {
	const newAddr = "10.0.0.3:8080"
	shares := func(config string, ages ...time.Duration) []float64 {
		bal, cc, _ := build(t, 3, config)
		// The three have been READY for a minute: warm.
		time.Sleep(time.Minute)
		joined := nanotime()
		balancertest.Update(t, bal, ParseConfig, config, balancertest.Endpoints(4))
		cc.Settle()
		pp, ok := cc.State().Picker.(*picker)
		if !ok || len(pp.endpoints) != 4 {
			t.Fatalf("picker after the fourth joined: %T", cc.State().Picker)
		}
		var out []float64
		for _, age := range ages {
			now := joined + int64(age)
			for _, e := range pp.endpoints {
				e.stats.ewma.Store(math.Float64bits(float64(time.Millisecond)))
				e.stats.sampled.Store(true)
				e.stats.lastPick.Store(now)
			}
			n := 0
			const picks = 4000
			for range picks {
				for _, e := range pp.endpoints {
					e.stats.last.Store(now) // no decay, no probe: equal costs
				}
				res, tr, err := pp.pick(pickInfo, now)
				if err != nil {
					t.Fatal(err)
				}
				if addrOf(res) == newAddr {
					n++
				}
				tr.finishAt(noSample, now)
				now += int64(10 * time.Microsecond)
			}
			out = append(out, float64(n)/picks)
		}
		return out
	}
	ages := []time.Duration{0, 500 * time.Millisecond, time.Second}
	with := shares(`{"slowStart": {"window": "1s", "minWeightPercent": 10}}`, ages...)
	without := shares(`{}`, ages...)
	t.Logf("the new endpoint's share at %v into a 1s window: %.3f with slow start, %.3f without", ages, with, without)
	for i, age := range ages {
		if math.Abs(without[i]-0.25) > 0.03 {
			t.Errorf("without slow start, at %v: share %.3f, want 0.25", age, without[i])
		}
	}
	// Weight 0.1 makes it look 10 times slower than a rival: out of the
	// tolerance band, it loses every comparison. Weight 0.5 puts it at the
	// band's edge: it takes turns, but a turn comes only once it has waited
	// twice as long as its rival.
	if with[0] > 0.01 {
		t.Errorf("with slow start, at weight 0.1: share %.3f, want none", with[0])
	}
	if with[1] < 0.1 || with[1] > 0.235 {
		t.Errorf("with slow start, at weight 0.5: share %.3f, want a reduced share (0.1 to 0.235)", with[1])
	}
	if math.Abs(with[2]-0.25) > 0.03 {
		t.Errorf("with slow start, after the window: share %.3f, want 0.25", with[2])
	}
}

// Slow start through reconnections, by internal/slowstart's rule: a
// reconnection that never went through TRANSIENT_FAILURE (IDLE, CONNECTING,
// READY, as after a graceful GOAWAY for MaxConnectionAge) keeps the
// endpoint's place on its ramp, or its being warm; one after failed
// connection attempts (the backend was down or restarted: cold) starts the
// ramp over. (Its EWMA starts afresh either way: TestStatsSurviveUpdates.)
// It runs in a testing/synctest bubble.
func TestSlowStartAfterReconnect(t *testing.T) { synctest.Test(t, testSlowStartAfterReconnect) }

func testSlowStartAfterReconnect(t *testing.T) {
	const addr = "10.0.0.1:8080"
	_, cc, _ := build(t, 2, `{"slowStart": {"window": "10s"}}`)
	// An hour after the endpoints became READY: warm.
	time.Sleep(time.Hour)
	reconnected := func() {
		t.Helper()
		wait.For(t, 10*time.Second, addr+" to reconnect", func() bool {
			cc.Settle()
			_, ok := rampStartOf(cc, addr)
			return ok
		})
	}
	graceful := func() {
		t.Helper()
		cc.SubConnOf(t, addr).SetState(connectivity.Idle)
		reconnected()
	}
	failed := func() {
		t.Helper()
		sc := cc.SubConnOf(t, addr)
		for _, s := range []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure, connectivity.Idle} {
			sc.SetState(s)
		}
		if _, ok := rampStartOf(cc, addr); ok {
			t.Fatalf("%s still in the picker while it fails to connect", addr)
		}
		reconnected()
	}
	check := func(what string, want int64) {
		t.Helper()
		if got, _ := rampStartOf(cc, addr); got != want {
			t.Errorf("%s: ramp started at %v, want %v (0: warm)", what, time.Duration(got), time.Duration(want))
		}
	}

	graceful()
	check("warm, after a graceful reconnection", 0)
	time.Sleep(time.Second)
	failed()
	restarted := nanotime()
	check("warm, after failed connection attempts", restarted)
	time.Sleep(5 * time.Second)
	graceful()
	check("mid-ramp, after a graceful reconnection", restarted)
	time.Sleep(time.Second)
	failed()
	check("mid-ramp, after failed connection attempts", nanotime())
}

// A picker's entry is 32 bytes, two to a cache line: what a pick reads of
// two random endpoints among 10,000 must not straddle lines.
func TestPickEndpointHalfALine(t *testing.T) {
	if got := unsafe.Sizeof(pickEndpoint{}); got != 32 {
		t.Fatalf("pickEndpoint is %d bytes, want 32: keep what a pick does not read in the picker's parallel slices", got)
	}
}
