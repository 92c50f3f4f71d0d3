package dnspoll

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	grpclbendpoint "github.com/grpclb/grpclb/endpoint"

	"go.uber.org/goleak"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a DNS server and a fleet of backends behind one name.
type world struct {
	dns   *testbed.DNSServer
	fleet *testbed.Fleet
	name  string
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	d, err := testbed.StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	f := testbed.FleetFor(t, n, testbed.FleetConfig{})
	w := &world{dns: d, fleet: f, name: "svc.test."}
	w.publish(f.IPs()...)
	return w
}

func (w *world) publish(ips ...netip.Addr) { w.dns.SetHosts(w.name, 1, ips...) }

// target is a dnspoll target for the world's name, asking its DNS server.
func (w *world) target(query string) string {
	return fmt.Sprintf("dnspoll://%s/%s:%d?%s", w.dns.Addr, w.name, w.fleet.Port(), query)
}

func TestScaleUpAndDown(t *testing.T) {
	w := newWorld(t, 2)
	c := resolvertest.RoundRobinClient(t, w.target("interval=100ms&min_interval=20ms"))
	resolvertest.WaitForSet(t, c, []string{"b1", "b2"}, 10*time.Second)

	if _, err := w.fleet.Add(3); err != nil {
		t.Fatal(err)
	}
	w.publish(w.fleet.IPs()...)
	resolvertest.WaitForSet(t, c, []string{"b1", "b2", "b3", "b4", "b5"}, 10*time.Second)

	// Scale down: b1 and b4 leave DNS (still running, so only the resolver
	// can be the reason they stop getting calls).
	ips := w.fleet.IPs()
	w.publish(ips[1], ips[2], ips[4])
	resolvertest.WaitForSet(t, c, []string{"b2", "b3", "b5"}, 10*time.Second)
}

func TestDNSOutageKeepsTheLastGoodSet(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode testbed.DNSMode
	}{{"dropped", testbed.DNSDrop}, {"servfail", testbed.DNSServfail}} {
		t.Run(mode.name, func(t *testing.T) {
			w := newWorld(t, 3)
			c := resolvertest.RoundRobinClient(t, w.target("interval=50ms&min_interval=20ms&timeout=100ms"))
			resolvertest.WaitForSet(t, c, []string{"b1", "b2", "b3"}, 10*time.Second)
			// A second resolver, watched directly: it must neither publish
			// nor report an error during the outage.
			cc := &resolvertest.RecordingCC{}
			r := build(t, w.target("interval=50ms&min_interval=20ms&timeout=100ms"), cc)
			defer r.Close()
			cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 3 })

			l := resolvertest.StartLoad(c, 4)
			w.dns.SetMode(mode.mode)
			before := w.dns.Queries()
			// Stay down until the resolver has tried and failed several times.
			wait.For(t, 10*time.Second, "20 lookups while DNS was down", func() bool { return w.dns.Queries() >= before+20 })
			seen, _ := testbed.Tally(c, 30, 2*time.Second)
			w.dns.SetMode(testbed.DNSUp)
			resolvertest.CheckOutage(t, "DNS", l, seen, 3, cc)
			// After the outage, changes are seen again.
			w.publish(w.fleet.IPs()[0])
			resolvertest.WaitForSet(t, c, []string{"b1"}, 10*time.Second)
		})
	}
}

func TestNXDOMAINAndEmptyAnswers(t *testing.T) {
	t.Run("kept by default", func(t *testing.T) {
		w := newWorld(t, 2)
		c := resolvertest.RoundRobinClient(t, w.target("interval=50ms&min_interval=20ms"))
		resolvertest.WaitForSet(t, c, []string{"b1", "b2"}, 10*time.Second)
		before := w.dns.Queries()
		w.dns.Delete(w.name) // NXDOMAIN
		wait.For(t, 10*time.Second, "10 more lookups", func() bool { return w.dns.Queries() >= before+10 })
		w.publish() // known name, no records
		before = w.dns.Queries()
		wait.For(t, 10*time.Second, "10 more lookups", func() bool { return w.dns.Queries() >= before+10 })
		if got, failed := testbed.Tally(c, 20, 2*time.Second); failed != 0 || len(got) != 2 {
			t.Fatalf("after NXDOMAIN and an empty answer: %v, %d failed; want the last good set kept", got, failed)
		}
	})
	t.Run("published when asked", func(t *testing.T) {
		w := newWorld(t, 2)
		cc := &resolvertest.RecordingCC{}
		r := build(t, w.target("interval=50ms&min_interval=20ms&empty=publish"), cc)
		defer r.Close()
		cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 2 })
		w.dns.Delete(w.name)
		cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 0 })
		w.publish(w.fleet.IPs()[1])
		cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 1 })
	})
}

func TestSRV(t *testing.T) {
	w := newWorld(t, 0)
	var bs []*testbed.Backend
	for i, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		b, err := testbed.StartBackend(fmt.Sprintf("s%d", i+1), ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Kill)
		bs = append(bs, b)
	}
	srvName := "_grpc._tcp.svc.test."
	var recs []testbed.SRV
	for i, b := range bs {
		ap := netip.MustParseAddrPort(b.Addr)
		host := fmt.Sprintf("host%d.test.", i+1)
		w.dns.SetHosts(host, 1, ap.Addr())
		recs = append(recs, testbed.SRV{Target: host, Port: ap.Port(), Weight: uint16(10 * (i + 1))})
	}
	w.dns.SetSRV(srvName, 1, recs...)
	target := fmt.Sprintf("dnspoll://%s/%s?srv=true&interval=100ms&min_interval=20ms", w.dns.Addr, srvName)

	c := resolvertest.RoundRobinClient(t, target)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)

	cc := &resolvertest.RecordingCC{}
	r := build(t, target, cc)
	defer r.Close()
	st := cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 2 })
	for i, ep := range st.Endpoints {
		info, ok := SRVInfoFromEndpoint(ep)
		if !ok || ep.Addresses[0].Addr != bs[i].Addr || info.Weight != uint16(10*(i+1)) || info.Target != fmt.Sprintf("host%d.test.", i+1) {
			t.Errorf("endpoint %d: %v, SRV %+v", i, ep.Addresses, info)
		}
		if w := grpclbendpoint.Weight(ep); w != uint32(10*(i+1)) {
			t.Errorf("endpoint %d: weight %d, want the SRV weight %d", i, w, 10*(i+1))
		}
	}
	if len(st.Addresses) != 2 {
		t.Errorf("state has %d Addresses, want 2 (for balancers that read Addresses)", len(st.Addresses))
	}
	// A weight change alone is a change.
	recs[0].Weight = 99
	w.dns.SetSRV(srvName, 1, recs...)
	cc.WaitForState(t, func(s resolver.State) bool {
		info, _ := SRVInfoFromEndpoint(s.Endpoints[0])
		return info.Weight == 99
	})
}

func TestResolveNowIsRateLimited(t *testing.T) {
	w := newWorld(t, 1)
	cc := &resolvertest.RecordingCC{}
	r := build(t, w.target("interval=1h&min_interval=200ms"), cc)
	defer r.Close()
	cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 1 })

	// ResolveNow refreshes at once (after the floor): a new backend is seen
	// long before the 1h interval.
	if _, err := w.fleet.Add(1); err != nil {
		t.Fatal(err)
	}
	w.publish(w.fleet.IPs()...)
	r.ResolveNow(resolver.ResolveNowOptions{})
	cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 2 })
	// How often a storm of ResolveNow calls may look up (once per floor)
	// is checked exactly on a virtual clock: TestResolveNowFloorOnTheClock.
}

func TestNoAnswerYetReportsAnError(t *testing.T) {
	w := newWorld(t, 1)
	w.dns.Delete(w.name)
	cc := &resolvertest.RecordingCC{}
	r := build(t, w.target("interval=50ms&min_interval=20ms"), cc)
	defer r.Close()
	wait.For(t, 10*time.Second, "an error reported for a name that does not exist", func() bool {
		_, errs := cc.Snapshot()
		return len(errs) > 0
	})
	if _, errs := cc.Snapshot(); !strings.Contains(errs[0].Error(), `resolving "svc.test."`) {
		t.Errorf("error %q does not name the host", errs[0])
	}
	w.publish(w.fleet.IPs()...)
	cc.WaitForState(t, func(s resolver.State) bool { return len(s.Endpoints) == 1 })
}

func TestIPLiteralTarget(t *testing.T) {
	b, err := testbed.StartBackend("ip1", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Kill()
	c := resolvertest.RoundRobinClient(t, "dnspoll:///"+b.Addr)
	resolvertest.WaitForSet(t, c, []string{"ip1"}, 10*time.Second)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	w := newWorld(t, 1)
	w.dns.SetMode(testbed.DNSDrop) // a lookup is in flight when Close comes
	cc := &resolvertest.RecordingCC{}
	r := build(t, w.target("interval=50ms&min_interval=20ms&timeout=5s"), cc)
	wait.For(t, 5*time.Second, "a lookup in flight", func() bool { return w.dns.Queries() > 0 })
	r.Close() // that it does not wait for the lookup is TestCloseDuringLookupOnTheClock
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

func TestDnsmasq(t *testing.T) {
	bin := testbed.NeedBinary(t, "dnsmasq")
	d, err := testbed.StartDnsmasq(bin, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f := testbed.FleetFor(t, 2, testbed.FleetConfig{})
	if err := d.SetHosts("svc.test", f.IPs()...); err != nil {
		t.Fatal(err)
	}
	c := resolvertest.RoundRobinClient(t, fmt.Sprintf("dnspoll://%s/svc.test.:%d?interval=100ms&min_interval=20ms", d.Addr, f.Port()))
	resolvertest.WaitForSet(t, c, []string{"b1", "b2"}, 10*time.Second)

	if _, err := f.Add(2); err != nil {
		t.Fatal(err)
	}
	if err := d.SetHosts("svc.test", f.IPs()...); err != nil {
		t.Fatal(err)
	}
	resolvertest.WaitForSet(t, c, []string{"b1", "b2", "b3", "b4"}, 10*time.Second)

	ips := f.IPs()
	if err := d.SetHosts("svc.test", ips[2], ips[3]); err != nil {
		t.Fatal(err)
	}
	resolvertest.WaitForSet(t, c, []string{"b3", "b4"}, 10*time.Second)

	// dnsmasq stops: the last good set stays.
	l := resolvertest.StartLoad(c, 2)
	d.Close()
	<-time.After(500 * time.Millisecond) // the scenario: load runs against a dead DNS server for half a second
	if ok, failed := l.Finish(); failed != 0 || ok == 0 {
		t.Errorf("with dnsmasq gone: %d ok, %d failed", ok, failed)
	}
}

func build(t *testing.T, target string, cc resolver.ClientConn) resolver.Resolver {
	t.Helper()
	return resolvertest.Build(t, NewBuilder(Options{}), target, cc)
}
