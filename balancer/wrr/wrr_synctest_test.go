package wrr

import (
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/slowstart"
)

// These tests run the balancer and its rebuild timer in a testing/synctest
// bubble: time is the bubble's virtual clock, so the pickers of a ramp are
// published at exact instants with exact shares.

// stCC is the fake channel, recording when each wrr picker was published.
type stCC struct {
	*balancertest.ClientConn

	mu        sync.Mutex
	published []stPicker
}

type stPicker struct {
	at time.Time
	p  *picker
}

func (c *stCC) UpdateState(s balancer.State) {
	if p, ok := s.Picker.(*picker); ok {
		c.mu.Lock()
		c.published = append(c.published, stPicker{time.Now(), p})
		c.mu.Unlock()
	}
	c.ClientConn.UpdateState(s)
}

// take returns the pickers published since the last call.
func (c *stCC) take() []stPicker {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.published
	c.published = nil
	return out
}

// stUpdate sends the balancer config and eps, and makes every new SubConn
// READY.
func stUpdate(t *testing.T, b balancer.Balancer, cc *stCC, config string, eps []resolver.Endpoint) {
	t.Helper()
	balancertest.Update(t, b, ParseConfig, config, eps)
	cc.Settle()
}

// stShare returns the share of p's table that goes to the endpoint at addr.
func stShare(t *testing.T, p *picker, addr string) float64 {
	t.Helper()
	idx := -1
	for i, child := range p.pickers {
		res, err := child.Pick(pickInfo)
		if err != nil {
			t.Fatal(err)
		}
		if res.SubConn.(*balancertest.SubConn).Addrs[0].Addr == addr {
			idx = i
		}
	}
	n := 0
	for _, i := range p.table {
		if int(i) == idx {
			n++
		}
	}
	return float64(n) / float64(len(p.table))
}

// While an endpoint that joins three warm ones ramps up, the balancer
// publishes a picker when it joins, then one every max(window/20, 100ms),
// and a last one exactly at the window's end (sooner than a step if the
// window is not a whole number of steps), each with the endpoint's share
// at its weight × max(minWeightPercent/100, (t/window)^(1/aggression)), the
// last with its full share; then no more, and no timer is left.
func TestSynctestRampTimer(t *testing.T) {
	for _, tc := range []struct {
		config string
		window time.Duration
		step   time.Duration
		ss     slowstart.Config
	}{
		{`{"slowStart":{"window":"2s"}}`, 2 * time.Second, 100 * time.Millisecond, slowstart.Config{Window: 2 * time.Second}},
		{`{"slowStart":{"window":"1s"}}`, time.Second, minRebuildInterval, slowstart.Config{Window: time.Second}},
		{`{"slowStart":{"window":"1050ms"}}`, 1050 * time.Millisecond, minRebuildInterval, slowstart.Config{Window: 1050 * time.Millisecond}},
		{`{"slowStart":{"window":"10s","aggression":2,"minWeightPercent":5}}`, 10 * time.Second, 500 * time.Millisecond,
			slowstart.Config{Window: 10 * time.Second, Aggression: 2, MinWeightPercent: 5}},
		{`{"slowStart":{"window":"30s","aggression":0.5,"minWeightPercent":1}}`, 30 * time.Second, 1500 * time.Millisecond,
			slowstart.Config{Window: 30 * time.Second, Aggression: 0.5, MinWeightPercent: 1}},
	} {
		t.Run(tc.config, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cc := &stCC{ClientConn: &balancertest.ClientConn{}}
				b := balancer.Get(Name).Build(cc, balancer.BuildOptions{}).(*wrrBalancer)
				t.Cleanup(b.Close)
				stUpdate(t, b, cc, tc.config, balancertest.Endpoints(3))
				time.Sleep(time.Hour) // the three are warm
				cc.take()

				joined := time.Now()
				stUpdate(t, b, cc, tc.config, balancertest.Endpoints(4))
				newAddr := balancertest.Endpoints(4)[3].Addresses[0].Addr
				time.Sleep(time.Hour)
				var got []stPicker // those with the new endpoint
				for _, pub := range cc.take() {
					if len(pub.p.pickers) == 4 {
						got = append(got, pub)
					}
				}

				var want []time.Duration // ages of the pickers
				for age := time.Duration(0); age < tc.window; age += tc.step {
					want = append(want, age)
				}
				want = append(want, tc.window)
				if len(got) != len(want) {
					t.Errorf("%d pickers published, want %d", len(got), len(want))
				}
				for i, pub := range got[:min(len(got), len(want))] {
					age := pub.at.Sub(joined)
					if age != want[i] {
						t.Errorf("picker %d published %v after the endpoint joined, want %v", i, age, want[i])
					}
					f := tc.ss.Factor(want[i])
					share := f / (3 + f)
					if i == len(want)-1 && share != 0.25 {
						t.Fatalf("the factor at the window's end is %v, want 1", f)
					}
					if s := stShare(t, pub.p, newAddr); math.Abs(s-share) > max(share/precision, 1.0/minRoundedLen)+1e-9 {
						t.Errorf("picker %d, %v after the endpoint joined: its share %.5f, want %.5f", i, age, s, share)
					}
				}
				b.mu.Lock()
				timer := b.timer
				b.mu.Unlock()
				if timer != nil {
					t.Error("a rebuild timer is set after the ramp")
				}
			})
		})
	}
}

// A second endpoint joining mid-ramp neither delays nor adds to the
// rebuilds: the pickers come on the first ramp's steps, and on the same
// grid after its end until the second's end, when the last one comes. (A
// picker is also published whenever an endpoint's state changes.)
func TestSynctestOverlappingRamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const config = `{"slowStart":{"window":"1s"}}`
		cc := &stCC{ClientConn: &balancertest.ClientConn{}}
		b := balancer.Get(Name).Build(cc, balancer.BuildOptions{}).(*wrrBalancer)
		t.Cleanup(b.Close)
		stUpdate(t, b, cc, config, balancertest.Endpoints(2))
		time.Sleep(time.Hour)
		cc.take()

		t0 := time.Now()
		stUpdate(t, b, cc, config, balancertest.Endpoints(3))
		time.Sleep(250 * time.Millisecond)
		stUpdate(t, b, cc, config, balancertest.Endpoints(4))
		time.Sleep(time.Hour)
		var got []time.Duration // the instants pickers were published at
		for _, pub := range cc.take() {
			if at := pub.at.Sub(t0); len(got) == 0 || got[len(got)-1] != at {
				got = append(got, at)
			}
		}
		ms := time.Millisecond
		// The first ramp's steps at 0, 100, ..., 1000ms; the second joins at
		// 250ms, ramps on the same grid and ends at 1250ms.
		want := []time.Duration{0, 100 * ms, 200 * ms, 250 * ms, 300 * ms, 400 * ms, 500 * ms, 600 * ms,
			700 * ms, 800 * ms, 900 * ms, 1000 * ms, 1100 * ms, 1200 * ms, 1250 * ms}
		if len(got) != len(want) {
			t.Fatalf("pickers at %v, want at %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("pickers at %v, want at %v", got, want)
			}
		}
	})
}
