package outlier_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/outlier"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// These tests run real gRPC clients (grpc.NewClient with the policy from
// the service config) against real backends on loopback, with round_robin
// alone as the baseline where it makes sense.

// outlierConfig is a service config with outlier_ejection over child (a
// policy name, or a {"name": config} object), with the given fields
// (without their braces).
func outlierConfig(fields, child string) string {
	if fields != "" {
		fields += ","
	}
	if !strings.HasPrefix(child, "{") {
		child = fmt.Sprintf(`{%q:{}}`, child)
	}
	return fmt.Sprintf(`{"loadBalancingConfig":[{"outlier_ejection":{%s"childPolicy":[%s]}}]}`, fields, child)
}

// dial makes a client of the fleet's backends (listed by the static
// resolver) and warms it up: calls until backends of them have answered.
func dial(t *testing.T, fleet *testbed.Fleet, serviceConfig string, backends int) echopb.EchoClient {
	t.Helper()
	client := balancertest.Dial(t, balancertest.StaticTarget(fleet.Addrs()), serviceConfig)
	balancertest.WarmUp(t, client, backends)
	return client
}

// injected finds the backend named in an error the testbed injected.
var injected = regexp.MustCompile(`injected failure on (b\d+)`)

// tally makes n calls one after another and returns how many each
// backend answered and how many each failed (by backend name; "?" for
// errors that name no backend).
func tally(client echopb.EchoClient, n int) (answered, failed map[string]int) {
	answered, errs := balancertest.Tally(client, n)
	failed = make(map[string]int)
	for _, err := range errs {
		name := "?"
		if m := injected.FindStringSubmatch(status.Convert(err).Message()); m != nil {
			name = m[1]
		}
		failed[name]++
	}
	return answered, failed
}

// merge adds the counts of from to into.
func merge(into, from map[string]int) {
	for k, v := range from {
		into[k] += v
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A backend that fails every call is ejected after consecutiveFailures
// calls to it and gets no call afterwards, whatever the child policy.
func TestFailingBackendEjected(t *testing.T) {
	for _, tt := range []struct {
		name, child string
		victim      int // pick_first uses the first address only
		others      int // backends that must answer: the policy's own choice
	}{
		{"round_robin", "round_robin", 1, 2},
		// Without its error penalty p2c_ewma sees a backend that fails
		// fast as fast, and sends it more calls. It may prefer one of the
		// other two throughout (calls one at a time never load it).
		{"p2c_ewma", `{"p2c_ewma":{"errorPenalty":"0s"}}`, 1, 1},
		{"consistent_hash", "consistent_hash", 1, 2},
		{"pool", "pool", 1, 2},
		// pick_first moves to the next address.
		{"pick_first", "pick_first", 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fleet := balancertest.StartFleet(t, 3)
			serving := 3
			if tt.name == "pick_first" {
				serving = 1
			}
			client := dial(t, fleet, outlierConfig(`"consecutiveFailures":{"threshold":5}`, tt.child), serving)
			victim := fleet.Backends()[tt.victim]
			victim.SetErrorRate(1, codes.Unavailable)

			// Until the threshold is reached: p2c_ewma may route around
			// the victim for a while (a failure that came back slowly on a
			// loaded machine makes it dear), so a fixed number of calls
			// would not always reach it. Then 600 more.
			answered, failed := map[string]int{}, map[string]int{}
			for i := 0; failed[victim.Name] < 5 && i < 300; i++ {
				a, f := tally(client, 10)
				merge(answered, a)
				merge(failed, f)
			}
			a, f := tally(client, 600)
			merge(answered, a)
			merge(failed, f)
			if sum(failed) != 5 || failed[victim.Name] != 5 {
				t.Errorf("failed calls %v, want 5 on %s (the threshold), then none", failed, victim.Name)
			}
			if answered[victim.Name] != 0 {
				t.Errorf("%s answered %d calls while failing every call", victim.Name, answered[victim.Name])
			}
			if len(answered) < tt.others {
				t.Errorf("calls answered by %v, want %d backends", answered, tt.others)
			}
			t.Logf("%s: answered %v, failed %v", tt.name, answered, failed)
		})
	}
}

// paced makes n calls at a fixed rate (at most 16 at once), so that the
// detectors see the same number of calls per interval with or without the
// race detector, and returns how many each backend answered and how many
// failed.
func paced(client echopb.EchoClient, n, perSecond int) (answered map[string]int, failed int) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		slots = make(chan struct{}, 16)
	)
	answered = make(map[string]int)
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for range n {
		<-tick.C
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := client.Echo(ctx, &echopb.EchoRequest{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
			} else {
				answered[resp.GetBackend()]++
			}
		})
	}
	wg.Wait()
	return answered, failed
}

// A backend that fails 30% of its calls: round_robin passes a third of
// that (10%) to the callers; with success-rate or failure-percentage
// ejection the error rate is at least five times lower, in the same test.
func TestFlakyBackend(t *testing.T) {
	const calls, rate = 3000, 1000 // 3s
	fleet := balancertest.StartFleet(t, 3)
	flaky := fleet.Backends()[0]
	flaky.SetErrorRate(0.3, codes.Unavailable)

	run := func(serviceConfig string) (errorRate float64) {
		client := dial(t, fleet, serviceConfig, 3)
		answered, failed := paced(client, calls, rate)
		t.Logf("answered %v, %d failed", answered, failed)
		return float64(failed) / calls
	}
	baseline := run(balancertest.RoundRobin)
	if baseline < 0.05 {
		t.Fatalf("round_robin error rate %.2f%%, want about 10%%: the test is broken", 100*baseline)
	}
	// An interval of about 50 calls (17 to the flaky backend), and an
	// ejection of 1s, then 2s: the flaky backend is tried twice in the 3s.
	common := `"interval":"50ms","baseEjectionTime":"1s"`
	for _, tt := range []struct{ name, fields string }{
		{"failurePercentage", common + `,"failurePercentage":{"threshold":15,"minimumHosts":3,"requestVolume":8}`},
		// A lone outlier among three is at most √2 standard deviations
		// off the mean: the factor must be below 1.41.
		{"successRate", common + `,"successRate":{"stdevFactor":1000,"minimumHosts":3,"requestVolume":8}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errorRate := run(outlierConfig(tt.fields, "round_robin"))
			t.Logf("error rate: round_robin %.2f%%, with %s ejection %.2f%% (%.0fx lower)",
				100*baseline, tt.name, 100*errorRate, baseline/max(errorRate, 1.0/calls))
			if errorRate*5 > baseline {
				t.Errorf("error rate %.2f%% with %s ejection, want at most a fifth of round_robin's %.2f%%", 100*errorRate, tt.name, 100*baseline)
			}
		})
	}
}

// An ejected backend comes back when its ejection time is up, and an
// ejection right after the previous one lasts twice as long.
func TestUnejection(t *testing.T) {
	fleet := balancertest.StartFleet(t, 3)
	victim := fleet.Backends()[0]
	client := dial(t, fleet, outlierConfig(`"interval":"1m","baseEjectionTime":"300ms","consecutiveFailures":{"threshold":3}`, "round_robin"), 3)

	// ejectAndWait breaks the victim until it is ejected (its third
	// failure), heals it, and returns how long until it answers again.
	ejectAndWait := func() time.Duration {
		t.Helper()
		victim.SetErrorRate(1, codes.Unavailable)
		var ejectedAt time.Time
		failures := 0
		for deadline := time.Now().Add(10 * time.Second); failures < 3; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d calls failed in 10s", failures)
			}
			// The time before the call, not after its error: the
			// ejection happens in the call's Done, before the error
			// reaches this goroutine, so only a time taken before the
			// call is sure to come before the ejection.
			sent := time.Now()
			if _, err := client.Echo(context.Background(), &echopb.EchoRequest{}); err != nil {
				failures++
				ejectedAt = sent
			}
		}
		victim.SetErrorRate(0, codes.OK)
		for deadline := ejectedAt.Add(10 * time.Second); ; {
			if time.Now().After(deadline) {
				t.Fatalf("%s got no call within 10s of its ejection", victim.Name)
			}
			resp, err := client.Echo(context.Background(), &echopb.EchoRequest{})
			if err != nil {
				t.Fatalf("call failed after the victim was healed: %v", err)
			}
			if resp.GetBackend() == victim.Name {
				return time.Since(ejectedAt)
			}
		}
	}
	first := ejectAndWait()
	second := ejectAndWait()
	t.Logf("back after %v, then after %v", first, second)
	if first < 300*time.Millisecond || first > 3*time.Second {
		t.Errorf("first ejection lasted %v, want 300ms", first)
	}
	if second < 600*time.Millisecond {
		t.Errorf("second ejection lasted %v, want at least 600ms (base × 2)", second)
	}
}

// With three of four backends failing and maxEjectionPercent 50, two are
// ejected and the third keeps getting (and failing) its share.
func TestMaxEjectionPercentE2E(t *testing.T) {
	fleet := balancertest.StartFleet(t, 4)
	client := dial(t, fleet, outlierConfig(`"maxEjectionPercent":50,"consecutiveFailures":{"threshold":3}`, "round_robin"), 4)
	bs := fleet.Backends()
	for _, b := range bs[:3] {
		b.SetErrorRate(1, codes.Unavailable)
	}
	tally(client, 100) // until two are ejected
	answered, failed := tally(client, 400)
	if len(answered) != 1 || answered[bs[3].Name] == 0 {
		t.Errorf("answered %v, want only %s", answered, bs[3].Name)
	}
	if len(failed) != 1 || failed["?"] != 0 {
		t.Errorf("failed %v, want calls failing on the one failing backend not ejected", failed)
	}
	if f := sum(failed); f < 100 || f > 300 {
		t.Errorf("%d of 400 calls failed, want about half", f)
	}

	// At 100%, every backend may be ejected: calls then fail at once,
	// saying why.
	client = balancertest.Dial(t, balancertest.StaticTarget(fleet.Addrs()), outlierConfig(`"maxEjectionPercent":100,"consecutiveFailures":{"threshold":3}`, "round_robin"))
	bs[3].SetErrorRate(1, codes.Unavailable)
	tally(client, 100)
	_, err := balancertest.Echo(context.Background(), client)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "ejected") {
		t.Errorf("with every backend ejected, call failed with %v, want UNAVAILABLE saying they are ejected", err)
	}
}

// Backends fail, recover, die, restart and leave and rejoin the
// resolver's list while callers run, under the race detector in CI: no
// panic, no leak (TestMain), calls keep flowing, and afterwards every
// backend gets calls again.
func TestFlapping(t *testing.T) {
	for _, child := range []string{"round_robin", "p2c_ewma"} {
		t.Run(child, func(t *testing.T) { flap(t, child) })
	}
}

func flap(t *testing.T, child string) {
	fleet := balancertest.StartFleet(t, 5)
	backends := fleet.Backends()
	scheme := "outlierflap" + strings.ReplaceAll(child, "_", "")
	r := manual.NewBuilderWithScheme(scheme)
	endpoints := func(skip int) resolver.State { return balancertest.StateOf(backends, skip) }
	r.InitialState(endpoints(-1))
	client := balancertest.Dial(t, scheme+":///fleet", outlierConfig(
		`"interval":"50ms","baseEjectionTime":"100ms","maxEjectionTime":"300ms","maxEjectionPercent":60,`+
			`"consecutiveFailures":{"threshold":3},"failurePercentage":{"threshold":20,"minimumHosts":2,"requestVolume":5}`, child),
		grpc.WithResolvers(r))
	balancertest.WarmUp(t, client, len(backends))

	callers := balancertest.StartCallers(t, client, 8, 2*time.Second)
	for round := range 15 {
		b := backends[round%len(backends)]
		switch round % 3 {
		case 0:
			b.SetErrorRate(1, codes.Unavailable)
			callers.Progress(t, 200, "while "+b.Name+" fails every call")
			b.SetErrorRate(0.4, codes.Internal)
			callers.Progress(t, 200, "while "+b.Name+" fails 40% of calls")
			b.SetErrorRate(0, codes.OK)
		case 1:
			callers.KillAndRestart(t, b, 100)
		case 2:
			b.SetErrorRate(1, codes.Unavailable)
			r.UpdateState(endpoints(round % len(backends)))
			callers.Progress(t, 100, "after dropping "+b.Name)
			b.SetErrorRate(0, codes.OK)
			r.UpdateState(endpoints(-1))
		}
		callers.Progress(t, 100, "after bringing "+b.Name+" back")
	}

	// Every backend serves calls again.
	balancertest.WaitAllServeAgain(t, backends)
	t.Logf("%s: %d calls ok, %d failed during the flapping", child, callers.OK(), callers.Failed())
}
