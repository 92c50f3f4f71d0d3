package main

import (
	"os"
	"testing"
)

// childEnv makes the test binary run grpclb's main with its arguments, for
// tests that need grpclb as a process of its own.
const childEnv = "GRPCLB_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
