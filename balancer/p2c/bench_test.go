package p2c_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/balancer"
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
		for _, n := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("policy=%s/endpoints=%d", pol.name, n), func(b *testing.B) {
				bal, _, p, err := balancertest.Build(pol.name, pol.config, balancertest.Endpoints(n))
				if err != nil {
					b.Fatal(err)
				}
				defer bal.Close()
				info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/grpclb.testbed.v1.Echo/Echo"}
				done := balancer.DoneInfo{BytesSent: true, BytesReceived: true}
				b.ReportAllocs()
				for b.Loop() {
					res, err := p.Pick(info)
					if err != nil {
						b.Fatal(err)
					}
					if res.Done != nil {
						res.Done(done)
					}
				}
			})
		}
	}
}
