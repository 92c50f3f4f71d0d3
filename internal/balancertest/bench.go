package balancertest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
)

// This file holds what the Pick benchmarks share.

// ForSizes runs bench over 1, 10, 100 and 1000 endpoints, each as the
// sub-benchmark "policy=name/endpoints=n": the sizes every Pick benchmark
// compares.
func ForSizes(b *testing.B, name string, bench func(b *testing.B, n int)) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("policy=%s/endpoints=%d", name, n), func(b *testing.B) { bench(b, n) })
	}
}

// HeaderKey is the context of keyed call i with its key in the x-key
// header, as ring_hash (with requestHashHeader "x-key") and
// consistent_hash (with hashHeader "x-key") read it.
func HeaderKey(i int) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-key", strconv.Itoa(i))
}

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

// BuildPicker is Build for a benchmark or a test: it fails tb on an
// error, closes the balancer when tb ends, and returns the READY picker.
func BuildPicker(tb testing.TB, name, config string, eps []resolver.Endpoint, nudge ...context.Context) balancer.Picker {
	tb.Helper()
	bal, _, p, err := Build(name, config, eps, nudge...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(bal.Close)
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

// PickAllocs is the number of allocations of one Pick of info on p and of
// its Done (with done, when the pick has one), averaged over 1000 runs; a
// failed pick fails tb.
func PickAllocs(tb testing.TB, p balancer.Picker, info balancer.PickInfo, done balancer.DoneInfo) float64 {
	return testing.AllocsPerRun(1000, func() {
		res, err := p.Pick(info)
		if err != nil {
			tb.Fatal(err)
		}
		if res.Done != nil {
			res.Done(done)
		}
	})
}

// CheckNoPickAllocs checks that a Pick of info and its Done allocate
// nothing (PickAllocs), on picker(n) for 1, 10 and 1000 endpoints.
func CheckNoPickAllocs(t *testing.T, info balancer.PickInfo, picker func(n int) balancer.Picker) {
	t.Helper()
	for _, n := range []int{1, 10, 1000} {
		if allocs := PickAllocs(t, picker(n), info, balancer.DoneInfo{}); allocs != 0 {
			t.Errorf("%d endpoints: %.1f allocations per pick, want 0", n, allocs)
		}
	}
}
