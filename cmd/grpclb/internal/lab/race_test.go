//go:build race

package lab

// raceEnabled: the race detector slows the in-process proxy several times
// over, so throughput comparisons with outside processes mean nothing.
const raceEnabled = true
