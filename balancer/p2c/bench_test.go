package p2c_test

import (
	"testing"

	_ "google.golang.org/grpc/balancer/leastrequest"

	"github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
)

// BenchmarkPick measures one Pick and its Done per op, on a picker with
// every endpoint READY, for p2c_ewma and, as the baseline in the same run,
// grpc-go's least_request (power of two choices over in-flight counts,
// sampled with replacement). Done gets a nil error: for p2c_ewma a
// successful call (BytesSent), so every op also folds a sample into an
// EWMA, as a real call does.
func BenchmarkPick(b *testing.B) {
	policies := []struct{ name, config string }{
		{p2c.Name, ""},
		{"least_request_experimental", `{"choiceCount":2}`},
	}
	for _, pol := range policies {
		balancertest.ForSizes(b, pol.name, func(b *testing.B, n int) {
			p := balancertest.BuildPicker(b, pol.name, pol.config, balancertest.Endpoints(n))
			balancertest.LoopPicks(b, p, balancertest.PickInfos(1, nil))
		})
	}
}
