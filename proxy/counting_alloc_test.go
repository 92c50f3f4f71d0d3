//go:build !race

// Allocation counts are not meaningful under the race detector.

package proxy

import (
	"context"
	"testing"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// A cluster's pick and its Done allocate nothing over a child that gives
// no Done of its own (round_robin): the Done that ends the count is made
// once per subchannel (it was a closure per pick).
func TestClusterPickDoesNotAllocate(t *testing.T) {
	info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}
	balancertest.CheckNoPickAllocs(t, info, func(n int) balancer.Picker {
		p, _ := buildCluster(t, "round_robin", balancertest.Endpoints(n))
		return p
	})
}
