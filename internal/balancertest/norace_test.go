//go:build !race

package balancertest

const raceEnabled = false
