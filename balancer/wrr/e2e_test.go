package wrr_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	_ "github.com/grpclb/grpclb/balancer/wrr"
	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// These tests run real gRPC clients (grpc.NewClient with the policy from
// the service config) against real backends on loopback, with weights set
// by a resolver (grpc-go's manual one) through endpoint.WithWeight.

func serviceConfig(config string) string { return balancertest.ServiceConfig("wrr", config) }

// endpoints lists the backends with the given weights (0: none set).
func endpoints(backends []*testbed.Backend, weights []uint32) resolver.State {
	var st resolver.State
	for i, b := range backends {
		ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: b.Addr}}}
		if i < len(weights) && weights[i] != 0 {
			ep = endpoint.WithWeight(ep, weights[i])
		}
		st.Endpoints = append(st.Endpoints, ep)
	}
	return st
}

// dial makes a client over a manual resolver whose first state is st, and
// calls until every backend of st has answered.
func dial(t *testing.T, st resolver.State, serviceConfig string) (echopb.EchoClient, *manual.Resolver) {
	t.Helper()
	r := manual.NewBuilderWithScheme("wrrtest")
	r.InitialState(st)
	client := balancertest.Dial(t, "wrrtest:///fleet", serviceConfig, grpc.WithResolvers(r))
	balancertest.WarmUp(t, client, len(st.Endpoints))
	return client, r
}

// Weights 1, 2 and 3 from the resolver: 6000 calls one after another go
// 1000, 2000 and 3000 to the three backends (exactly, but for a picker
// that a reconnect might rebuild on the way).
func TestWeightsEndToEnd(t *testing.T) {
	backends := balancertest.StartFleet(t, 3).Backends()
	client, _ := dial(t, endpoints(backends, []uint32{1, 2, 3}), serviceConfig(`{}`))
	counts, failed := testbed.Tally(client, 6000, 10*time.Second)
	t.Logf("calls per backend: %v, %d failed", counts, failed)
	if failed != 0 {
		t.Errorf("%d calls failed", failed)
	}
	for i, b := range backends {
		want := 1000 * (i + 1)
		if got := counts[b.Name]; math.Abs(float64(got-want)) > 60 {
			t.Errorf("backend %s of weight %d got %d of 6000 calls, want %d ± 60", b.Name, i+1, got, want)
		}
	}
}

type record struct {
	at      time.Duration // when the call started, from the test's mark
	backend string        // "" on error
}

// loadUntil makes calls from callers goroutines, each one after another,
// until end, and returns them with their start times relative to mark.
func loadUntil(client echopb.EchoClient, callers int, mark, end time.Time) []record {
	var (
		mu  sync.Mutex
		all []record
		wg  sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			var mine []record
			for time.Now().Before(end) {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := client.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				r := record{at: start.Sub(mark)}
				if err == nil {
					r.backend = resp.GetBackend()
				}
				mine = append(mine, r)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}

// shareIn returns backend's share of the successful calls that started in
// [from, to), the number of those calls and of failed ones.
func shareIn(recs []record, backend string, from, to time.Duration) (share float64, calls, failed int) {
	hits := 0
	for _, r := range recs {
		if r.at < from || r.at >= to {
			continue
		}
		if r.backend == "" {
			failed++
			continue
		}
		calls++
		if r.backend == backend {
			hits++
		}
	}
	if calls == 0 {
		return 0, 0, failed
	}
	return float64(hits) / float64(calls), calls, failed
}

// Slow start through real calls: a backend added to three warm ones gets
// about minWeightPercent of its weight at first (0.1/3.1, 3%, where
// round_robin would give it 25% at once), a growing share through the 2s
// window, and its full quarter after it.
func TestSlowStartEndToEnd(t *testing.T) {
	const (
		window  = 2 * time.Second
		callers = 4
		bucket  = 250 * time.Millisecond
	)
	backends := balancertest.StartFleet(t, 4).Backends()
	warm, newcomer := backends[:3], backends[3]
	client, r := dial(t, endpoints(warm, nil), serviceConfig(`{"slowStart":{"window":"2s","aggression":1.0,"minWeightPercent":10}}`))

	// The three ramp together when the channel starts: equal shares. Load
	// them past their window, so that they are warm.
	mark := time.Now()
	recs := loadUntil(client, callers, mark, mark.Add(window+300*time.Millisecond))
	for _, b := range warm {
		share, calls, failed := shareIn(recs, b.Name, 0, time.Hour)
		if failed != 0 || share < 0.28 || share > 0.39 {
			t.Errorf("before the newcomer: %s got %.1f%% of %d calls (%d failed), want about a third", b.Name, 100*share, calls, failed)
		}
	}

	// The newcomer joins. Its ramp starts when it becomes READY, a moment
	// after the resolver's update: times are counted from its first call.
	mark = time.Now()
	r.UpdateState(endpoints(backends, nil))
	recs = loadUntil(client, callers, mark, mark.Add(window+1500*time.Millisecond))
	joined := time.Duration(math.MaxInt64)
	for _, rec := range recs {
		if rec.backend == newcomer.Name {
			joined = min(joined, rec.at)
		}
	}
	if joined > 500*time.Millisecond {
		t.Fatalf("the newcomer's first call came %v after it joined the resolver's list, want it within 500ms", joined)
	}
	t.Logf("the newcomer's first call came %v after the resolver's update", joined)
	for i := range recs {
		recs[i].at -= joined
	}

	// expected is the newcomer's share at t after it joined: weight f
	// against three of 1.
	expected := func(t time.Duration) float64 {
		f := 1.0
		if t < window {
			f = max(0.1, float64(t)/float64(window))
		}
		return f / (3 + f)
	}
	var rows []string
	for from := time.Duration(0); from < window+time.Second; from += bucket {
		share, calls, failed := shareIn(recs, newcomer.Name, from, from+bucket)
		rows = append(rows, fmt.Sprintf("%4dms-%4dms: %5.1f%% of %4d calls (%d failed), ramp %5.1f%%",
			from.Milliseconds(), (from+bucket).Milliseconds(), 100*share, calls, failed, 100*expected(from+bucket/2)))
	}
	t.Logf("the newcomer's share of the calls after it joined:\n%s", strings.Join(rows, "\n"))

	check := func(what string, from, to time.Duration, lo, hi float64) {
		t.Helper()
		share, calls, failed := shareIn(recs, newcomer.Name, from, to)
		if failed != 0 {
			t.Errorf("%s: %d calls failed", what, failed)
		}
		if calls < 50 {
			t.Errorf("%s: only %d calls from %v to %v, too few to judge", what, calls, from, to)
			return
		}
		if share < lo || share > hi {
			t.Errorf("%s (%v to %v): newcomer got %.1f%% of %d calls, want %.0f%% to %.0f%% (ramp %.1f%% to %.1f%%)",
				what, from, to, 100*share, calls, 100*lo, 100*hi, 100*expected(from), 100*expected(to))
		}
	}
	check("start of the ramp", 0, bucket, 0.005, 0.08)
	check("middle of the ramp", window/2, window*3/4, 0.10, 0.23)
	check("end of the ramp", window*7/8, window, 0.18, 0.28)
	check("after the ramp", window+bucket, window+time.Second, 0.21, 0.29)
}

// Backends are killed and restarted, dropped from and put back in the
// resolver's list, and given new weights, while callers run, with slow
// start on: no panic, calls keep succeeding on the others, and afterwards
// every backend gets traffic again. Run with -race; TestMain checks that no
// goroutine (no ramp timer) is left behind.
func TestFlappingEndToEnd(t *testing.T) {
	backends := balancertest.StartFleet(t, 5).Backends()
	weights := []uint32{1, 2, 3, 4, 5}
	client, r := dial(t, endpoints(backends, weights), serviceConfig(`{"slowStart":{"window":"300ms"}}`))

	callers := balancertest.StartCallers(t, client, 8, 2*time.Second)
	for round := range 12 {
		b := backends[round%len(backends)]
		switch round % 3 {
		case 0:
			callers.KillAndRestart(t, b, 200)
		case 1:
			var rest []*testbed.Backend
			var restW []uint32
			for i, x := range backends {
				if x != b {
					rest, restW = append(rest, x), append(restW, weights[i])
				}
			}
			r.UpdateState(endpoints(rest, restW))
			callers.Progress(t, 200, "after dropping "+b.Name)
			r.UpdateState(endpoints(backends, weights))
		case 2:
			weights[round%len(weights)] = uint32(1 + round%7)
			r.UpdateState(endpoints(backends, weights))
		}
		callers.Progress(t, 200, "after bringing "+b.Name+" back")
	}

	// Every backend serves calls again.
	balancertest.WaitAllServeAgain(t, backends)
	t.Logf("%d calls ok, %d failed during the flapping", callers.OK(), callers.Failed())
}
