package resolvertest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/wait"
)

// LogRecorder keeps every log record a resolver writes, to check what it
// said, and prints them when the test fails.
type LogRecorder struct {
	mu      sync.Mutex
	records []string
}

// NewLogRecorder returns a recorder tied to tb.
func NewLogRecorder(tb testing.TB) *LogRecorder {
	r := &LogRecorder{}
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, line := range r.Lines() {
				tb.Log(line)
			}
		}
	})
	return r
}

// Logger writes into the recorder.
func (r *LogRecorder) Logger() *slog.Logger { return slog.New(&recordHandler{r: r}) }

// Lines returns every record so far, one line each.
func (r *LogRecorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

// String returns every record so far, one line each.
func (r *LogRecorder) String() string { return strings.Join(r.Lines(), "\n") }

// Count returns how many lines contain every one of parts.
func (r *LogRecorder) Count(parts ...string) int {
	n := 0
	for _, l := range r.Lines() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

type recordHandler struct {
	r     *LogRecorder
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.r.mu.Lock()
	h.r.records = append(h.r.records, b.String())
	h.r.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

// Eventually is wait.For, for the resolver tests that use it.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	wait.For(tb, within, what, cond)
}

// StateAddrs lists the first address of each of a state's endpoints.
func StateAddrs(s resolver.State) []string {
	var out []string
	for _, ep := range s.Endpoints {
		out = append(out, ep.Addresses[0].Addr)
	}
	return out
}

// HasAddrs matches a state whose Endpoints and Addresses both list exactly
// want, in order.
func HasAddrs(want ...string) func(resolver.State) bool {
	slices.Sort(want)
	return func(s resolver.State) bool {
		var fromAddresses []string
		for _, a := range s.Addresses {
			fromAddresses = append(fromAddresses, a.Addr)
		}
		return slices.Equal(StateAddrs(s), want) && slices.Equal(fromAddresses, want)
	}
}
