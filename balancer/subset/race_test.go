//go:build race

package subset

// raceEnabled: the race detector slows the large assignments tenfold, so
// the 1000 × 5000 case runs only without it.
const raceEnabled = true
