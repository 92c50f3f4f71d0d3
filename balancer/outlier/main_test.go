package outlier

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test or example leaves a goroutine behind:
// every client, server and balancer must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
