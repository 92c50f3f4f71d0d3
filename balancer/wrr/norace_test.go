//go:build !race

package wrr

const raceEnabled = false
