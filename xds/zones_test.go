package xds_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
)

// zoned starts 4 backends, b0 and b1 in zone "a", b2 and b3 in zone "b".
func zoned(t *testing.T) []*backend {
	bs := make([]*backend, 4)
	for i := range bs {
		bs[i] = startBackend(t, fmt.Sprintf("b%d", i), []string{"a", "a", "b", "b"}[i])
	}
	return bs
}

// share returns the calls of by that went to bs.
func share(by map[string]int, bs ...*backend) int {
	n := 0
	for _, b := range bs {
		n += by[b.name]
	}
	return n
}

// A client in zone a keeps its calls in zone a; a client without a zone,
// and one in a zone without endpoints, use all four backends. An endpoint
// update reaches the zone's snapshot, with one new version.
func TestZonePreference(t *testing.T) {
	const calls = 400
	bs := zoned(t)
	src, target := source(t, "zones", state(bs...))
	srv, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})

	inA := dialZone(t, addr, "svc", "a")
	waitAllServe(t, inA, bs[0], bs[1])
	by, failed := tally(inA, calls)
	if a := share(by, bs[0], bs[1]); failed > 0 || a*100 < calls*95 {
		t.Errorf("client in zone a, %d calls: %v, %d failed; want >= 95%% in zone a", calls, by, failed)
	}
	t.Logf("client in zone a, %d calls: %v", calls, by)

	for _, zone := range []string{"", "c"} {
		c := dialZone(t, addr, "svc", zone)
		waitAllServe(t, c, bs...)
		by, failed := tally(c, calls)
		for _, b := range bs {
			if failed > 0 || by[b.name] < calls/8 {
				t.Errorf("client in zone %q, %d calls: %v, %d failed; want each backend >= %d", zone, calls, by, failed, calls/8)
				break
			}
		}
		t.Logf("client in zone %q, %d calls: %v", zone, calls, by)
	}

	// A new backend in zone a reaches the zone-a client; one version more.
	more := startBackend(t, "b4", "a")
	v := srv.Version()
	src.UpdateState(state(append(bs, more)...))
	if got := srv.Version(); got != v+1 {
		t.Errorf("version after an update = %d, want %d", got, v+1)
	}
	waitAllServe(t, inA, more)
	if by, failed := tally(inA, 90); failed > 0 || share(by, bs[2], bs[3]) > 0 {
		t.Errorf("client in zone a after b4 joined zone a, 90 calls: %v, %d failed; want none in zone b", by, failed)
	}
}

// When zone a's backends stop, its client's calls go to zone b (grpc-go's
// priority policy: priority 0 in TRANSIENT_FAILURE, priority 1 takes
// over), and the server's snapshots have not changed.
func TestZoneFailover(t *testing.T) {
	bs := zoned(t)
	_, target := source(t, "failover", state(bs...))
	srv, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})
	inA := dialZone(t, addr, "svc", "a")
	waitAllServe(t, inA, bs[0], bs[1])
	v := srv.Version()

	start := time.Now()
	bs[0].stop()
	bs[1].stop()
	took := wait.Until(t, 20*time.Second, func() (bool, string) {
		name := call(inA)
		return name == bs[2].name || name == bs[3].name, fmt.Sprintf("after zone a stopped, a call answered by %q", name)
	})
	t.Logf("zone a stopped -> first call answered in zone b: %v", took)
	waitAllServe(t, inA, bs[2], bs[3])
	if by, failed := tally(inA, 100); failed > 0 || share(by, bs[2], bs[3]) != 100 {
		t.Errorf("after failover, 100 calls: %v, %d failed; want all in zone b", by, failed)
	}
	if got := srv.Version(); got != v {
		t.Errorf("version %d after zone a stopped, want %d: the failover is the client's", got, v)
	}
	t.Logf("failover took %v from the stop", time.Since(start))
}

// zoneAware false: a client in zone a uses every zone.
func TestZoneAwareOff(t *testing.T) {
	bs := zoned(t)
	_, target := source(t, "zoneoff", state(bs...))
	off := false
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target, ZoneAware: &off}}})
	inA := dialZone(t, addr, "svc", "a")
	waitAllServe(t, inA, bs...)
	by, failed := tally(inA, 200)
	if failed > 0 || share(by, bs[2], bs[3]) < 50 {
		t.Errorf("zoneAware false, client in zone a, 200 calls: %v, %d failed; want zone b to have >= 50", by, failed)
	}
}
