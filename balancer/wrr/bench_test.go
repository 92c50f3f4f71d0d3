package wrr_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/balancer"
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
		for _, n := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("policy=%s/endpoints=%d", c.name, n), func(b *testing.B) {
				bal, _, p, err := balancertest.Build(c.policy, c.config, c.eps(n))
				if err != nil {
					b.Fatal(err)
				}
				defer bal.Close()
				info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/grpclb.testbed.v1.Echo/Echo"}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Pick(info); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
