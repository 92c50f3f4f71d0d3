package chash

import (
	"context"
	"testing"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// Pick with the key in the context, and its Done, allocate nothing. (Under
// -race allocation counts are not meaningful; scripts/test.sh runs this
// without it too.)
func TestPickDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 10, 1000} {
		b, _, p, err := balancertest.Build(Name, `{"loadFactor":1.25}`, balancertest.Endpoints(n))
		if err != nil {
			t.Fatal(err)
		}
		info := balancer.PickInfo{Ctx: WithKey(context.Background(), "user-42"), FullMethodName: "/s/m"}
		allocs := testing.AllocsPerRun(1000, func() {
			res, err := p.Pick(info)
			if err != nil {
				t.Fatal(err)
			}
			if res.Done != nil {
				res.Done(balancer.DoneInfo{})
			}
		})
		b.Close()
		if allocs != 0 && !raceBuild {
			t.Errorf("%d endpoints: %.1f allocations per pick, want 0", n, allocs)
		}
	}
}
