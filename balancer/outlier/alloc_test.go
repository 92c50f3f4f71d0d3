//go:build !race

// Allocation counts are not meaningful under the race detector;
// scripts/test.sh runs the Alloc tests without it.

package outlier

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// A pick and its Done allocate nothing: the Done that counts a call's
// outcome is made once per endpoint (it was a closure per pick, 48 bytes).
func TestPickDoesNotAllocate(t *testing.T) {
	info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}
	balancertest.CheckNoPickAllocs(t, info, func(n int) balancer.Picker {
		b, cc, _, err := balancertest.Build(Name, `{"childPolicy":[{"round_robin":{}}]}`, balancertest.Endpoints(n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		// The child hears of READY SubConns from the policy's goroutine:
		// wait for a picker that picks.
		var p balancer.Picker
		wait.For(t, 10*time.Second, "a picker that picks", func() bool {
			p = cc.State().Picker
			_, err := p.Pick(info)
			return err == nil
		})
		return p
	})
}
