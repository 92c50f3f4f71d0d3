package proxy_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/grpclb/grpclb/proxy/internal/interoptest"
)

// TestMain fails the run if any test leaves a goroutine behind, and makes
// grpc-go's fatal logs panic instead of exiting: grpc-go's interop cases
// report failures with logger.Fatalf, and interoptest reports the panic as
// the failure of the test that caused it.
func TestMain(m *testing.M) {
	interoptest.PanicOnFatal()
	goleak.VerifyTestMain(m)
}
