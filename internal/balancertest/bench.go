package balancertest

import (
	"context"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/resolver"
)

// This file holds what the Pick benchmarks share.

// Nudges returns the contexts ctx(i) of 20n+100 picks, for Build to pick
// with over n endpoints, so that a policy that connects an endpoint only
// when a keyed pick lands on it (ring_hash) connects them all; nil when
// ctx is nil (the calls carry no key).
func Nudges(n int, ctx func(i int) context.Context) []context.Context {
	if ctx == nil {
		return nil
	}
	out := make([]context.Context, 0, 20*n+100)
	for i := range 20*n + 100 {
		out = append(out, ctx(i))
	}
	return out
}

// PickInfos returns the PickInfos of keys Echo calls, call i with the
// context ctx(i) (context.Background when ctx is nil). Benchmarks make
// them before timing: making them is the caller's cost, not the picker's.
func PickInfos(keys int, ctx func(i int) context.Context) []balancer.PickInfo {
	infos := make([]balancer.PickInfo, keys)
	for i := range infos {
		c := context.Background()
		if ctx != nil {
			c = ctx(i)
		}
		infos[i] = balancer.PickInfo{Ctx: c, FullMethodName: "/grpclb.testbed.v1.Echo/Echo"}
	}
	return infos
}

// BuildPicker is Build for a benchmark: it fails b on an error, closes the
// balancer when b ends, and returns the READY picker.
func BuildPicker(b *testing.B, name, config string, eps []resolver.Endpoint, nudge ...context.Context) balancer.Picker {
	b.Helper()
	bal, _, p, err := Build(name, config, eps, nudge...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bal.Close)
	return p
}

// LoopPicks is the loop of a Pick benchmark: one Pick, and its Done, per
// op, cycling through infos, whose length is a power of two (a mask, not a
// division, picks the next); allocations are reported.
func LoopPicks(b *testing.B, p balancer.Picker, infos []balancer.PickInfo) {
	mask := len(infos) - 1
	if len(infos) == 0 || len(infos)&mask != 0 {
		b.Fatalf("LoopPicks: %d PickInfos, not a power of two", len(infos))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := p.Pick(infos[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		if res.Done != nil {
			res.Done(balancer.DoneInfo{BytesSent: true, BytesReceived: true})
		}
	}
}
