// Package wait is the one way grpclb's tests wait for something to become
// true: poll a condition until it holds or a deadline passes, then fail the
// test naming what did not happen. No test sleeps to synchronise, and no
// poll goes on without a deadline.
package wait

import (
	"testing"
	"time"
)

// Interval is how often For polls.
const Interval = 5 * time.Millisecond

// For polls cond every Interval until it holds, and returns how long that
// took; it fails the test with what if within passes first.
func For(tb testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			tb.Fatalf("within %v: %s", within, what)
			return time.Since(start) // Fatalf returns only in a fake TB
		}
		time.Sleep(Interval)
	}
	return time.Since(start)
}

// Until is For with a message computed when it fails, for conditions whose
// last observed value explains the failure: cond returns whether it holds
// and what it saw.
func Until(tb testing.TB, within time.Duration, cond func() (bool, string)) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		ok, saw := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tb.Fatalf("within %v: %s", within, saw)
			return time.Since(start) // Fatalf returns only in a fake TB
		}
		time.Sleep(Interval)
	}
}
