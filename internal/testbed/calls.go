package testbed

import (
	"context"
	"testing"
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

// OpenStream opens an EchoStream call and makes one round trip on it,
// failing the test if it cannot; the stream stays open for the caller.
func OpenStream(tb testing.TB, ctx context.Context, c echopb.EchoClient) (echopb.Echo_EchoStreamClient, *echopb.EchoResponse) {
	tb.Helper()
	s, err := c.EchoStream(ctx)
	if err == nil {
		err = s.Send(&echopb.EchoRequest{})
	}
	var resp *echopb.EchoResponse
	if err == nil {
		resp, err = s.Recv()
	}
	if err != nil {
		tb.Fatalf("an EchoStream round trip: %v", err)
	}
	return s, resp
}
