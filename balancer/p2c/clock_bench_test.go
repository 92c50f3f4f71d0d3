package p2c

import "testing"

var sinkTime int64

// BenchmarkTwoClockReads is the floor under BenchmarkPick: every call reads
// the monotonic clock at its pick and at its Done. Its cost depends on the
// machine (vDSO, clock source, virtualisation), not on this package.
func BenchmarkTwoClockReads(b *testing.B) {
	for b.Loop() {
		start := nanotime()
		sinkTime += nanotime() - start
	}
}
