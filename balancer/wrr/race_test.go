//go:build race

package wrr

// raceEnabled: the race detector adds allocations of its own to code that
// makes none, so allocation counts are meaningless under it.
const raceEnabled = true
