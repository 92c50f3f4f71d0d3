package chash

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	_ "google.golang.org/grpc/balancer/ringhash"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// ringNodes returns n nodes with the addresses of balancertest.Endpoints.
func testNodes(n int) []ringNode {
	nodes := make([]ringNode, n)
	for i, ep := range balancertest.Endpoints(n) {
		nodes[i] = ringNode{key: ep.Addresses[0].Addr, weight: 1}
	}
	return nodes
}

// BenchmarkRingBuild measures building the ring (hashing and sorting every
// point) with the automatic number of points.
func BenchmarkRingBuild(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			nodes := testNodes(n)
			var points int
			b.ReportAllocs()
			for b.Loop() {
				points = len(newRing(nodes, 0).points)
			}
			b.ReportMetric(float64(points), "points")
		})
	}
}

// benchPolicies are benchmarked side by side with grpc-go's ring_hash, the
// way internal/balancertest's BenchmarkPick runs grpc-go's policies.
var benchPolicies = []struct {
	name, policy, config string
	ctx                  func(i int) context.Context
}{
	{"consistent_hash", Name, "", func(i int) context.Context {
		return WithKey(context.Background(), strconv.Itoa(i))
	}},
	{"consistent_hash_header", Name, `{"hashHeader":"x-key"}`, balancertest.HeaderKey},
	{"consistent_hash_unbounded", Name, `{"loadFactor":0}`, func(i int) context.Context {
		return WithKey(context.Background(), strconv.Itoa(i))
	}},
	{"ring_hash_experimental", "ring_hash_experimental", `{"requestHashHeader":"x-key"}`, balancertest.HeaderKey},
}

// BenchmarkPick measures one Pick (and its Done) per op with every endpoint
// READY, a different key each time.
func BenchmarkPick(b *testing.B) {
	for _, pol := range benchPolicies {
		balancertest.ForSizes(b, pol.name, func(b *testing.B, n int) {
			var nudge []context.Context
			if pol.policy != Name { // ring_hash connects on picks
				nudge = balancertest.Nudges(n, pol.ctx)
			}
			p := balancertest.BuildPicker(b, pol.policy, pol.config, balancertest.Endpoints(n), nudge...)
			balancertest.LoopPicks(b, p, balancertest.PickInfos(1024, pol.ctx))
		})
	}
}
