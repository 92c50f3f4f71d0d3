package static

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test, example or the code under test leaves
// a goroutine behind: every resolver, client and server must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
