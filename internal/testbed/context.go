package testbed

import (
	"context"
	"testing"
	"time"
)

// Context is a context for a test's calls: it ends after timeout, or when
// the test ends.
func Context(tb testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(tb.Context(), timeout)
	tb.Cleanup(cancel)
	return ctx
}
