package hedge

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test, example or benchmark leaves a
// goroutine behind: every attempt, client and server must be finished.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
