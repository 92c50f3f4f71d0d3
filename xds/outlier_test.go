package xds_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
)

// A backend that fails every call is ejected by grpc-go's xDS client when
// the Cluster has outlier detection (failure percentage, or success rate),
// and its calls move to the healthy backends; without it, its share of
// the calls keeps failing.
func TestOutlierEjection(t *testing.T) {
	tests := []struct {
		name string
		od   *xds.OutlierDetection
	}{
		{"none", nil},
		{"failure percentage", &xds.OutlierDetection{
			Interval: 100 * time.Millisecond, BaseEjectionTime: time.Minute, MaxEjectionPercent: 50,
			FailurePercentage: &xds.FailurePercentageEjection{Threshold: 50, MinimumHosts: 3, RequestVolume: 10},
		}},
		{"success rate", &xds.OutlierDetection{
			Interval: 100 * time.Millisecond, BaseEjectionTime: time.Minute, MaxEjectionPercent: 50,
			SuccessRate: &xds.SuccessRateEjection{StdevFactor: 1000, MinimumHosts: 4, RequestVolume: 10},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := startBackends(t, 4)
			bad := bs[3]
			bad.fail.Store(true)
			_, addr := startServer(t, xds.Config{Services: []xds.Service{{
				Name: "svc", Target: "static:///" + strings.Join(addrs(bs...), ","), OutlierDetection: tt.od,
			}}})
			c := dial(t, addr, "svc")
			waitAllServe(t, c, bs[:3]...)
			if tt.od == nil {
				by, failed := tally(c, 200)
				if failed < 20 {
					t.Errorf("without outlier detection, 200 calls: %v, %d failed; want about a quarter failed", by, failed)
				}
				return
			}
			took := wait.Until(t, 20*time.Second, func() (bool, string) {
				before := bad.calls.Load()
				by, failed := tally(c, 40)
				return failed == 0 && bad.calls.Load() == before, fmt.Sprintf("%s not ejected: 40 calls %v, %d failed", bad.name, by, failed)
			})
			t.Logf("%s ejected: 40 calls in a row without a failure %v after the warm-up", bad.name, took)
			before := bad.calls.Load()
			by, failed := tally(c, 200)
			if failed > 0 || bad.calls.Load() != before || len(by) != 3 {
				t.Errorf("after the ejection, 200 calls: %v, %d failed, %s got %d; want all on the 3 healthy backends", by, failed, bad.name, bad.calls.Load()-before)
			}
		})
	}
}

// Zone a's one backend fails every call: the zone-a client ejects it,
// which leaves its priority 0 without an endpoint, and its calls go to
// zone b.
func TestOutlierEjectionFailsOverZone(t *testing.T) {
	bad := startBackend(t, "a0", "a")
	bad.fail.Store(true)
	good := []*backend{startBackend(t, "b0", "b"), startBackend(t, "b1", "b")}
	_, target := source(t, "zoneod", state(bad, good[0], good[1]))
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target, OutlierDetection: &xds.OutlierDetection{
		Interval: 100 * time.Millisecond, BaseEjectionTime: time.Minute, MaxEjectionPercent: 50,
		FailurePercentage: &xds.FailurePercentageEjection{Threshold: 50, MinimumHosts: 1, RequestVolume: 10},
	}}}})
	c := dialZone(t, addr, "svc", "a")
	if name := call(c); name != "" {
		t.Fatalf("first call answered by %s, want a failure from %s (zone a, priority 0)", name, bad.name)
	}
	took := wait.Until(t, 20*time.Second, func() (bool, string) {
		by, failed := tally(c, 20)
		return failed == 0 && by["b0"]+by["b1"] == 20, fmt.Sprintf("20 calls: %v, %d failed; want all in zone b", by, failed)
	})
	t.Logf("zone a's only backend ejected, calls in zone b %v after the client's first call", took)
	before := bad.calls.Load()
	if by, failed := tally(c, 100); failed > 0 || bad.calls.Load() != before {
		t.Errorf("after the ejection, 100 calls: %v, %d failed; %s got %d", by, failed, bad.name, bad.calls.Load()-before)
	}
}
