//go:build race

package kube

// raceEnabled: the race detector slows the resolver several times over,
// so timing bounds are loosened under it.
const raceEnabled = true
