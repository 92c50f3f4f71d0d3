package chash

import (
	"context"
	"testing"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// Pick with the key in the context, and its Done, allocate nothing. (Under
// -race allocation counts are not meaningful: the test skips itself;
// scripts/test.sh runs it without -race too.)
func TestPickDoesNotAllocate(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts are not meaningful under -race")
	}
	info := balancer.PickInfo{Ctx: WithKey(context.Background(), "user-42"), FullMethodName: "/s/m"}
	balancertest.CheckNoPickAllocs(t, info, func(n int) balancer.Picker {
		return balancertest.BuildPicker(t, Name, `{"loadFactor":1.25}`, balancertest.Endpoints(n))
	})
}
