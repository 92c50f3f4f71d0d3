package wrr

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test, example or benchmark leaves a
// goroutine behind: every client, server, balancer and ramp timer must be
// stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
