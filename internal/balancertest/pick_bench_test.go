package balancertest

import (
	"context"
	"strconv"
	"testing"

	"github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
	_ "github.com/grpclb/grpclb/balancer/wrr"
)

// pickPolicies are benchmarked side by side: grpc-go's own pickers are the
// baseline for grpclb's.
var pickPolicies = []struct {
	name, config string
	ctx          func(i int) context.Context // the call's context for pick i
}{
	{name: "round_robin"},
	{name: "least_request_experimental", config: `{"choiceCount":2}`},
	{name: "ring_hash_experimental", config: `{"requestHashHeader":"x-key"}`, ctx: HeaderKey},
	{name: "consistent_hash", ctx: contextKey},
	{name: "p2c_ewma"},
	{name: "pool", config: `{"connections":1}`},
	{name: "wrr"},
}

// contextKey carries a key with chash.WithKey, not sent on the wire.
func contextKey(i int) context.Context {
	return chash.WithKey(context.Background(), strconv.Itoa(i))
}

// BenchmarkPick measures one Pick (and its Done) per op on a picker with
// every endpoint READY.
func BenchmarkPick(b *testing.B) {
	for _, pol := range pickPolicies {
		ForSizes(b, pol.name, func(b *testing.B, n int) {
			p := BuildPicker(b, pol.name, pol.config, Endpoints(n), Nudges(n, pol.ctx)...)
			LoopPicks(b, p, PickInfos(1024, pol.ctx))
		})
	}
}

// BenchmarkPickOnly measures Pick alone, reported as ns/pick: picks run in
// batches of 64, each batch timed on its own with the monotonic clock (two
// readings per batch, about 1 ns a pick), and the Done callbacks of a batch
// run after it, outside that time. So calls are in flight for a while, as
// in a real channel, and what is timed is the work on the RPC's path before
// it is sent. ns/op is the whole loop, Done included.
//
// (Stopping the benchmark's timer around the Done callbacks instead would
// stop the world to read memory statistics every batch, and the cache
// misses that leaves behind would be counted as picking.)
func BenchmarkPickOnly(b *testing.B) {
	for _, pol := range pickPolicies {
		ForSizes(b, pol.name, func(b *testing.B, n int) {
			p := BuildPicker(b, pol.name, pol.config, Endpoints(n), Nudges(n, pol.ctx)...)
			// As in BenchmarkPick, 1024 keys, made before timing.
			infos := PickInfos(1024, pol.ctx)
			b.ReportAllocs()
			b.ResetTimer()
			b.ReportMetric(pickTime(b, p, infos, b.N), "ns/pick")
		})
	}
}
