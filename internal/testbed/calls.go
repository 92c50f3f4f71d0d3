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
		if name := Call(c, timeout); name != "" {
			byBackend[name]++
		} else {
			failed++
		}
	}
	return byBackend, failed
}

// Call makes one Echo call with the given timeout and returns the name of
// the backend that answered, "" if it failed.
func Call(c echopb.EchoClient, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := c.Echo(ctx, &echopb.EchoRequest{})
	if err != nil {
		return ""
	}
	return resp.GetBackend()
}
