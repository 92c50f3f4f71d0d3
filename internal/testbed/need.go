package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// CachedBinary finds a program that a script under scripts/ builds into
// the cache: $env if set, else $GRPCLB_CACHE/dir/name (default cache
// ~/.cache/grpclb), else name on PATH. It returns "" and where it looked
// when none exists.
func CachedBinary(env, dir, name string) (string, string) {
	if p := os.Getenv(env); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, ""
		}
		return "", fmt.Sprintf("$%s=%q does not exist", env, p)
	}
	cache := os.Getenv("GRPCLB_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "grpclb")
		}
	}
	cached := filepath.Join(cache, dir, name)
	if st, err := os.Stat(cached); err == nil && !st.IsDir() {
		return cached, ""
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, ""
	}
	return "", fmt.Sprintf("no $%s, no %s, no %s on PATH", env, cached, name)
}

// NeedCachedBinary is NeedBinary for a program found by CachedBinary. A
// set $env that names no file fails the test everywhere.
func NeedCachedBinary(tb testing.TB, env, dir, name string) string {
	tb.Helper()
	p, why := CachedBinary(env, dir, name)
	if p != "" {
		return p
	}
	if os.Getenv(env) != "" {
		tb.Fatalf("%s", why)
	}
	return NeedBinary(tb, name)
}
