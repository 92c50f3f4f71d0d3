package wait_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/wait"
)

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestFor(t *testing.T) {
	var n atomic.Int32
	wait.For(t, 5*time.Second, "the third poll", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("polled %d times, want 3", got)
	}
	rec := &fatalRecorder{TB: t}
	wait.For(rec, 20*time.Millisecond, "never", func() bool { return false })
	if !strings.Contains(rec.msg, "never") {
		t.Fatalf("a condition that never holds did not fail the test naming it: %q", rec.msg)
	}
}

func TestUntil(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	wait.Until(rec, 20*time.Millisecond, func() (bool, string) { return false, "saw 7 of 8" })
	if !strings.Contains(rec.msg, "saw 7 of 8") {
		t.Fatalf("the last observation is not in the failure: %q", rec.msg)
	}
	if d := wait.Until(t, time.Second, func() (bool, string) { return true, "" }); d > time.Second {
		t.Fatalf("a condition that holds at once took %v", d)
	}
}
