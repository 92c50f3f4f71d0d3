package hedge_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/hedge"
)

func TestNewOptions(t *testing.T) {
	type testCase struct {
		name    string
		opts    []hedge.Option
		wantErr string // "" for valid options
	}
	tests := []testCase{
		{name: "none", opts: nil},
		{name: "nil option", opts: []hedge.Option{nil}},
		{name: "all valid", opts: []hedge.Option{
			hedge.Methods("/a.B/C", "/a.B/*"), hedge.MethodFunc(func(string) bool { return false }),
			hedge.Delay(0), hedge.Delay(time.Hour), hedge.AdaptiveDelay(0.95), hedge.MaxAttempts(2), hedge.MaxAttempts(5),
			hedge.Budget(1), hedge.Budget(0.001), hedge.BudgetBurst(1), hedge.BudgetBurst(10000),
			hedge.NonFatalCodes(), hedge.NonFatalCodes(codes.Unavailable, codes.ResourceExhausted, codes.Unauthenticated),
		}},
		{name: "Methods of nothing", opts: []hedge.Option{hedge.Methods()}},

		{name: "negative delay", opts: []hedge.Option{hedge.Delay(-time.Millisecond)},
			wantErr: "hedge: Delay(-1ms): must not be negative"},
		{name: "delay too long", opts: []hedge.Option{hedge.Delay(2 * time.Hour)},
			wantErr: "hedge: Delay(2h0m0s): must be at most 1h0m0s"},
		{name: "empty method", opts: []hedge.Option{hedge.Methods("/a.B/C", "")},
			wantErr: `hedge: Methods(""): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "nil MethodFunc", opts: []hedge.Option{hedge.MethodFunc(nil)},
			wantErr: "hedge: MethodFunc(nil): the function must not be nil"},
		{name: "OK non-fatal", opts: []hedge.Option{hedge.NonFatalCodes(codes.Unavailable, codes.OK)},
			wantErr: "hedge: NonFatalCodes(OK): OK is an answer and cannot be non-fatal"},
		{name: "unknown code", opts: []hedge.Option{hedge.NonFatalCodes(17)},
			wantErr: "hedge: NonFatalCodes(Code(17)): not a gRPC status code (17)"},
		{name: "first error wins", opts: []hedge.Option{hedge.MaxAttempts(0), hedge.Budget(0)},
			wantErr: "hedge: MaxAttempts(0): must be between 2 and 5 (the first attempt included)"},
	}
	// Bad values refused for one reason: each option alone fails New with
	// "hedge: " + its call (as the error names it) + ": " + why.
	type badValue struct {
		call string
		opt  hedge.Option
	}
	for _, group := range []struct {
		why string
		bad []badValue
	}{
		{"must be a quantile strictly between 0 and 1, such as 0.95", []badValue{
			{"AdaptiveDelay(0)", hedge.AdaptiveDelay(0)}, {"AdaptiveDelay(1)", hedge.AdaptiveDelay(1)},
			{"AdaptiveDelay(95)", hedge.AdaptiveDelay(95)}, {"AdaptiveDelay(NaN)", hedge.AdaptiveDelay(math.NaN())},
		}},
		{"must be between 2 and 5 (the first attempt included)", []badValue{
			{"MaxAttempts(1)", hedge.MaxAttempts(1)}, {"MaxAttempts(6)", hedge.MaxAttempts(6)},
		}},
		{"must be a ratio of extra attempts to calls in (0, 1], such as 0.1", []badValue{
			{"Budget(0)", hedge.Budget(0)}, {"Budget(10)", hedge.Budget(10)},
			{"Budget(NaN)", hedge.Budget(math.NaN())}, {"Budget(+Inf)", hedge.Budget(math.Inf(1))},
		}},
		{"must be between 1 and 10000", []badValue{
			{"BudgetBurst(0)", hedge.BudgetBurst(0)}, {"BudgetBurst(10001)", hedge.BudgetBurst(10001)},
		}},
		{`want a full method name such as "/package.Service/Method" or "/package.Service/*"`, []badValue{
			{`Methods("a.B/C")`, hedge.Methods("a.B/C")}, {`Methods("//C")`, hedge.Methods("//C")},
			{`Methods("/a.B/")`, hedge.Methods("/a.B/")}, {`Methods("/a.B")`, hedge.Methods("/a.B")},
			{`Methods("/a.B/Get*")`, hedge.Methods("/a.B/Get*")}, {`Methods("/a/B/C")`, hedge.Methods("/a/B/C")},
		}},
	} {
		for _, b := range group.bad {
			tests = append(tests, testCase{name: b.call, opts: []hedge.Option{b.opt}, wantErr: "hedge: " + b.call + ": " + group.why})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := hedge.New(tc.opts...)
			if tc.wantErr == "" {
				if err != nil || h == nil {
					t.Fatalf("New: %v, %v; want a Hedger", h, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("New: error %v, want %q", err, tc.wantErr)
			}
			if h != nil {
				t.Errorf("New returned a Hedger with the error")
			}
			if !strings.HasPrefix(err.Error(), "hedge: ") {
				t.Errorf("error %q does not start with %q", err, "hedge: ")
			}
		})
	}
}

// Without options, nothing is hedged and the delay is DefaultDelay.
func TestDefaults(t *testing.T) {
	h, err := hedge.New()
	if err != nil {
		t.Fatal(err)
	}
	if got := h.CurrentDelay(method); got != hedge.DefaultDelay {
		t.Errorf("CurrentDelay = %v, want %v", got, hedge.DefaultDelay)
	}
	if got := h.Stats(); got != (hedge.Stats{}) {
		t.Errorf("Stats = %+v, want zeros", got)
	}
}
