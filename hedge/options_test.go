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
	for _, tc := range []struct {
		name    string
		opts    []hedge.Option
		wantErr string // "" for valid options
	}{
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
		{name: "quantile 0", opts: []hedge.Option{hedge.AdaptiveDelay(0)},
			wantErr: "hedge: AdaptiveDelay(0): must be a quantile strictly between 0 and 1, such as 0.95"},
		{name: "quantile 1", opts: []hedge.Option{hedge.AdaptiveDelay(1)},
			wantErr: "hedge: AdaptiveDelay(1): must be a quantile strictly between 0 and 1, such as 0.95"},
		{name: "quantile as a percentage", opts: []hedge.Option{hedge.AdaptiveDelay(95)},
			wantErr: "hedge: AdaptiveDelay(95): must be a quantile strictly between 0 and 1, such as 0.95"},
		{name: "quantile NaN", opts: []hedge.Option{hedge.AdaptiveDelay(math.NaN())},
			wantErr: "hedge: AdaptiveDelay(NaN): must be a quantile strictly between 0 and 1, such as 0.95"},
		{name: "one attempt", opts: []hedge.Option{hedge.MaxAttempts(1)},
			wantErr: "hedge: MaxAttempts(1): must be between 2 and 5 (the first attempt included)"},
		{name: "six attempts", opts: []hedge.Option{hedge.MaxAttempts(6)},
			wantErr: "hedge: MaxAttempts(6): must be between 2 and 5 (the first attempt included)"},
		{name: "budget 0", opts: []hedge.Option{hedge.Budget(0)},
			wantErr: "hedge: Budget(0): must be a ratio of extra attempts to calls in (0, 1], such as 0.1"},
		{name: "budget as a percentage", opts: []hedge.Option{hedge.Budget(10)},
			wantErr: "hedge: Budget(10): must be a ratio of extra attempts to calls in (0, 1], such as 0.1"},
		{name: "budget NaN", opts: []hedge.Option{hedge.Budget(math.NaN())},
			wantErr: "hedge: Budget(NaN): must be a ratio of extra attempts to calls in (0, 1], such as 0.1"},
		{name: "budget infinite", opts: []hedge.Option{hedge.Budget(math.Inf(1))},
			wantErr: "hedge: Budget(+Inf): must be a ratio of extra attempts to calls in (0, 1], such as 0.1"},
		{name: "burst 0", opts: []hedge.Option{hedge.BudgetBurst(0)},
			wantErr: "hedge: BudgetBurst(0): must be between 1 and 10000"},
		{name: "burst too big", opts: []hedge.Option{hedge.BudgetBurst(10001)},
			wantErr: "hedge: BudgetBurst(10001): must be between 1 and 10000"},
		{name: "method without slash", opts: []hedge.Option{hedge.Methods("a.B/C")},
			wantErr: `hedge: Methods("a.B/C"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "method without service", opts: []hedge.Option{hedge.Methods("//C")},
			wantErr: `hedge: Methods("//C"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "service without method", opts: []hedge.Option{hedge.Methods("/a.B/")},
			wantErr: `hedge: Methods("/a.B/"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "service alone", opts: []hedge.Option{hedge.Methods("/a.B")},
			wantErr: `hedge: Methods("/a.B"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "method prefix wildcard", opts: []hedge.Option{hedge.Methods("/a.B/Get*")},
			wantErr: `hedge: Methods("/a.B/Get*"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{name: "three parts", opts: []hedge.Option{hedge.Methods("/a/B/C")},
			wantErr: `hedge: Methods("/a/B/C"): want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
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
	} {
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
