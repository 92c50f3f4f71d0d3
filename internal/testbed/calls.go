package testbed

import (
	"context"
	"time"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Tally makes n Echo calls one after another, each with the given timeout,
// and returns how many each backend answered (by backend name) and how many
// failed.
func Tally(c echopb.EchoClient, n int, timeout time.Duration) (byBackend map[string]int, failed int) {
	byBackend = make(map[string]int)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		resp, err := c.Echo(ctx, &echopb.EchoRequest{})
		cancel()
		if err != nil {
			failed++
			continue
		}
		byBackend[resp.GetBackend()]++
	}
	return byBackend, failed
}
