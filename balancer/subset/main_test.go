package subset

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test or example leaves a goroutine
// behind: every client, server and child policy must be stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
