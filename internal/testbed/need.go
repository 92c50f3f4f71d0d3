package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// NeedBinary returns the path of an external program a test needs, such as
// dnsmasq. Where it is missing the test is skipped on a developer machine
// but fails under CI (CI=true) or GRPCLB_REQUIRE_ALL=1, so a missing install
// step can never pass as a skipped test.
func NeedBinary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" || os.Getenv("GRPCLB_REQUIRE_ALL") == "1" {
		tb.Fatalf("%s is required here (CI or GRPCLB_REQUIRE_ALL=1) but not installed: %v; .ci/run installs it", name, err)
	}
	tb.Skipf("%s not installed (%v); .ci/run installs it", name, err)
	return ""
}
