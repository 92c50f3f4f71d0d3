//go:build race

package proxy_test

// raceEnabled: the race detector allows 8128 live goroutines, so tests
// that hold thousands of connections hold fewer under it.
const raceEnabled = true
