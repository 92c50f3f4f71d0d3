package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// BenchmarkClusterScale measures what a proxy cluster adds to its policy
// over 10, 1000 and 10,000 endpoints, against the same policy
// (round_robin) alone, built in the same run:
//
//   - op=pick: ns/pick, a pick and its Done; the cluster counts every pick
//     in flight on its subchannel for /clusters.
//   - op=status: ms per /clusters snapshot of the cluster's endpoints
//     (endpointTable.statuses).
//
// Building 10,000 endpoints READY one at a time takes about half a minute
// per policy (see internal/balancertest's BenchmarkScale):
//
//	go test -run '^$' -bench ClusterScale -benchtime 200ms ./proxy
func BenchmarkClusterScale(b *testing.B) {
	info := balancer.PickInfo{Ctx: context.Background(), FullMethodName: "/s/m"}
	for _, n := range []int{10, 1000, 10000} {
		eps := balancertest.Endpoints(n)
		_, _, plain, err := balancertest.BuildReady("round_robin", "", eps, n)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cluster, table := buildCluster(b, "round_robin", eps)
		b.Logf("%d endpoints: the cluster's policy built and READY in %v", n, time.Since(start))
		addrs := make([]string, n)
		for i, ep := range eps {
			addrs[i] = ep.Addresses[0].Addr
		}
		for _, p := range []struct {
			name   string
			picker balancer.Picker
		}{{"round_robin", plain}, {"cluster", cluster}} {
			b.Run(fmt.Sprintf("endpoints=%d/op=pick/policy=%s", n, p.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					res, err := p.picker.Pick(info)
					if err != nil {
						b.Fatal(err)
					}
					if res.Done != nil {
						res.Done(balancer.DoneInfo{})
					}
				}
			})
		}
		b.Run(fmt.Sprintf("endpoints=%d/op=status", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := table.statuses(addrs, nil); len(got) != n {
					b.Fatalf("%d statuses, want %d", len(got), n)
				}
			}
		})
	}
}
