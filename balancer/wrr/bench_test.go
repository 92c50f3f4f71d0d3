package wrr_test

import (
	"testing"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/balancer/wrr"
	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/balancertest"
)

// BenchmarkPick measures one Pick per op on a picker with every endpoint
// READY, for wrr with equal weights, with weights 1..10, and during a ramp
// (a picker built while every endpoint ramps up from different points),
// and, as the baseline in the same run, round_robin. wrr's cost should not
// depend on the number of endpoints nor on the weights.
func BenchmarkPick(b *testing.B) {
	weighted := func(n int) []resolver.Endpoint {
		eps := balancertest.Endpoints(n)
		for i := range eps {
			eps[i] = endpoint.WithWeight(eps[i], uint32(1+i%10))
		}
		return eps
	}
	cases := []struct {
		name, policy, config string
		eps                  func(int) []resolver.Endpoint
	}{
		{"round_robin", "round_robin", "", balancertest.Endpoints},
		{"wrr/equal", wrr.Name, "", balancertest.Endpoints},
		{"wrr/weighted", wrr.Name, "", weighted},
		{"wrr/ramping", wrr.Name, `{"slowStart":{"window":"1h"}}`, weighted},
	}
	for _, c := range cases {
		balancertest.ForSizes(b, c.name, func(b *testing.B, n int) {
			p := balancertest.BuildPicker(b, c.policy, c.config, c.eps(n))
			balancertest.LoopPicks(b, p, balancertest.PickInfos(1, nil))
		})
	}
}
