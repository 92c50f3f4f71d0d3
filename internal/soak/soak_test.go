// Package soak holds a bounded soak test: grpclb's client stack under load
// for a minute while backends flap (stop, crash, freeze, restart, leave
// and join DNS), with every policy, under the race detector. It checks
// that nothing panics, the channel recovers once the flapping stops, no
// goroutine is left behind and memory does not grow without bound.
package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb"
	"github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/pool"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/resolver/dnspoll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// duration of the whole soak; GRPCLB_SOAK overrides it (e.g. 10m).
func duration(t *testing.T) time.Duration {
	if s := os.Getenv("GRPCLB_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("GRPCLB_SOAK=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 60 * time.Second
}

var policies = []string{
	`[{"p2c_ewma":{"slowStart":{"window":"1s"}}}]`,
	`[{"round_robin":{}}]`,
	`[{"consistent_hash":{"loadFactor":1.25}}]`,
	`[{"pool":{"connections":2}}]`,
}

func TestSoakFlappingEndpoints(t *testing.T) {
	total := duration(t)
	per := total / time.Duration(len(policies))
	for _, lb := range policies {
		t.Run(lb, func(t *testing.T) { soak(t, lb, per) })
	}
}

func soak(t *testing.T, lb string, d time.Duration) {
	dns, err := testbed.StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	f := testbed.FleetFor(t, 6, testbed.FleetConfig{})
	publish := func(bs []*testbed.Backend) {
		var ips []netip.Addr
		for _, b := range bs {
			ips = append(ips, netip.MustParseAddrPort(b.Addr).Addr())
		}
		dns.SetHosts("soak.test.", 1, ips...)
	}
	publish(f.Backends())
	b := dnspoll.NewBuilder(dnspoll.Options{Interval: 100 * time.Millisecond, MinInterval: 50 * time.Millisecond})
	cc, err := grpclb.NewClient(fmt.Sprintf("dnspoll://%s/soak.test.:%d", dns.Addr, f.Port()),
		grpclb.WithLoadBalancing(lb), grpclb.WithIdempotent("grpclb.testbed.v1.Echo"),
		grpclb.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := echopb.NewEchoClient(cc)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var mu sync.Mutex
	calls, fails := 0, 0
	stop := balancertest.Workers(8, func(w, i int) {
		ctx, cancel := context.WithTimeout(chash.WithKey(context.Background(), fmt.Sprint(w, i%50)), 300*time.Millisecond)
		_, err := c.Echo(ctx, &echopb.EchoRequest{})
		cancel()
		mu.Lock()
		calls++
		if err != nil {
			fails++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // pacing, bounded load
	})

	// Flap: every 50ms something happens to a random backend.
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(d)
	events := 0
	for time.Now().Before(deadline) {
		bs := f.Backends()
		victim := bs[rng.IntN(len(bs))]
		switch rng.IntN(6) {
		case 0:
			victim.Kill()
		case 1:
			victim.Stop()
		case 2:
			victim.Freeze()
		case 3:
			victim.Thaw()
			_ = victim.Restart()
		case 4:
			var some []*testbed.Backend
			for _, b := range bs {
				if rng.IntN(3) > 0 {
					some = append(some, b)
				}
			}
			publish(some)
		case 5:
			publish(bs)
		}
		events++
		time.Sleep(50 * time.Millisecond) // the flapping's pace, not synchronisation
	}

	// Calm: everything back, and the channel must serve every call again.
	for _, b := range f.Backends() {
		b.Thaw()
		_ = b.Restart()
	}
	publish(f.Backends())
	resolvertest.Eventually(t, 20*time.Second, "calls succeed again after the flapping", func() bool {
		_, failed := testbed.Tally(c, 50, 2*time.Second)
		return failed == 0
	})
	stop()
	t.Logf("%s: %d flapping events, %d calls, %d failed during the flapping", lb, events, calls, fails)
	if calls == 0 {
		t.Fatal("no call was made")
	}

	cc.Close()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 64<<20 {
		t.Errorf("heap in use grew by %d MiB over the soak", grow>>20)
	}
}
