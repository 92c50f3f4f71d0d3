package chash

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: every
// balancer, client and backend must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
