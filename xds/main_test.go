package xds_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a Server's
// resolvers and streams, and the xDS clients of the tests, end with them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
