//go:build race

package balancertest

// raceEnabled: timing tests mean nothing under the race detector.
const raceEnabled = true
