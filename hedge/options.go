package hedge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// Defaults of the options.
const (
	// DefaultQuantile is the quantile of a method's latencies at which its
	// calls are hedged, unless Delay fixes the delay: the 95th percentile,
	// as "The Tail at Scale" suggests.
	DefaultQuantile = 0.95
	// DefaultDelay is a method's delay until its quantile is known (see
	// Delay).
	DefaultDelay = 10 * time.Millisecond
	// DefaultMaxAttempts is the number of attempts of a call, the first
	// included: one hedge.
	DefaultMaxAttempts = 2
	// DefaultBudget is the share of calls that may send an extra attempt,
	// on average: 10% extra load at most.
	DefaultBudget = 0.1
	// DefaultBudgetBurst is the number of extra attempts the budget holds
	// when full, and holds at start.
	DefaultBudgetBurst = 10
)

// Limits of the options.
const (
	maxDelay       = time.Hour
	maxMaxAttempts = 5 // gRPC's own limit for hedgingPolicy.maxAttempts
	maxBudgetBurst = 10000
)

// An Option configures a Hedger; see New.
type Option func(*config) error

// config is what the options set. It is read-only once New returns.
type config struct {
	delay       time.Duration
	quantile    float64 // 0: fixed delay
	delaySet    bool    // Delay was given
	quantileSet bool    // AdaptiveDelay was given
	maxAttempts int
	budget      float64
	burst       int
	methods     map[string]bool     // "/pkg.Service/Method"
	services    map[string]bool     // "/pkg.Service/" for "/pkg.Service/*"
	funcs       []func(string) bool // MethodFunc predicates
	nonFatal    uint32              // bit c set: code c lets the other attempts go on
}

func defaultConfig() config {
	return config{
		delay:       DefaultDelay,
		maxAttempts: DefaultMaxAttempts,
		budget:      DefaultBudget,
		burst:       DefaultBudgetBurst,
		nonFatal:    1 << codes.Unavailable,
	}
}

// hedges reports whether the options mark method as idempotent.
func (c *config) hedges(method string) bool {
	if c.methods[method] {
		return true
	}
	if len(c.services) > 0 {
		if i := strings.LastIndexByte(method, '/'); i > 0 && c.services[method[:i+1]] {
			return true
		}
	}
	for _, f := range c.funcs {
		if f(method) {
			return true
		}
	}
	return false
}

func (c *config) isNonFatal(code codes.Code) bool {
	return code < 32 && c.nonFatal&(1<<code) != 0
}

// Delay fixes how long an attempt is left alone before the next attempt
// is sent, in [0, 1h]; 0 sends every attempt at once (within the budget).
// Without Delay, the delay is adaptive (see AdaptiveDelay); with both,
// the delay is adaptive and d is its delay until a method's quantile is
// known (DefaultDelay otherwise).
//
// Set it near the latency the method's calls stay under 95% of the time:
// lower hedges calls that would have answered in time and spends the
// budget on them, higher cuts less of the tail.
func Delay(d time.Duration) Option {
	return checked("Delay", d, checkDelay, func(c *config) { c.delay, c.delaySet = d, true })
}

// AdaptiveDelay sets the quantile q, in (0, 1), of a method's recent
// latencies at which its calls are hedged: DefaultQuantile (0.95) unless
// set. This adaptive delay is the default; Delay alone fixes the delay
// instead.
//
// The latencies are those of the method's first attempts that succeeded,
// over its last 512 hedged calls; a first attempt that lost to a hedge
// counts with the time it had run when it lost, which is more than the
// delay and so keeps the quantile where it was. Until a method has 64 of
// them, its delay is Delay's (DefaultDelay, 10ms, unless set). The
// quantile is recomputed every 32 calls of the method.
func AdaptiveDelay(q float64) Option {
	return checked("AdaptiveDelay", q, checkQuantile, func(c *config) { c.quantile, c.quantileSet = q, true })
}

// MaxAttempts sets the number of attempts of a call, the first included:
// DefaultMaxAttempts (2) unless set, in [2, 5]. Attempts after the second
// are sent one delay after the previous one, each within the budget.
func MaxAttempts(n int) Option {
	return checked("MaxAttempts", n, checkMaxAttempts, func(c *config) { c.maxAttempts = n })
}

// Budget caps the extra load: every call that may be hedged adds ratio to
// a token bucket, every extra attempt takes one token, and with no token
// left no extra attempt is sent. Over any stretch of time, extra attempts
// are thus at most ratio × calls + the bucket's size (BudgetBurst).
// DefaultBudget (0.1) unless set, in (0, 1].
func Budget(ratio float64) Option {
	return checked("Budget", ratio, checkBudget, func(c *config) { c.budget = ratio })
}

// BudgetBurst sets the size of the budget's token bucket, which is full at
// start: DefaultBudgetBurst (10) unless set, in [1, 10000].
func BudgetBurst(n int) Option {
	return checked("BudgetBurst", n, checkBurst, func(c *config) { c.burst = n })
}

// checked is the option called name, whose value v is checked by check
// (the error names the option and v) before set applies it.
func checked[T any](name string, v T, check func(T) error, set func(*config)) Option {
	return func(c *config) error {
		if err := check(v); err != nil {
			return fmt.Errorf("hedge: %s(%v): %w", name, v, err)
		}
		set(c)
		return nil
	}
}

// Methods marks methods as idempotent, so that their calls are hedged. Each
// name is a full method name, "/package.Service/Method", or
// "/package.Service/*" for every method of a service. Methods may be given
// several times; the names add up.
func Methods(names ...string) Option {
	return func(c *config) error {
		for _, name := range names {
			if err := checkMethod(name); err != nil {
				return fmt.Errorf("hedge: Methods(%q): %w", name, err)
			}
			if svc, ok := strings.CutSuffix(name, "*"); ok {
				if c.services == nil {
					c.services = make(map[string]bool)
				}
				c.services[svc] = true
				continue
			}
			if c.methods == nil {
				c.methods = make(map[string]bool)
			}
			c.methods[name] = true
		}
		return nil
	}
}

// MethodFunc marks as idempotent the methods for which f, given the full
// method name ("/package.Service/Method"), returns true. It is called on
// every call, from many goroutines at once, and must be fast. It adds to
// Methods: a method is hedged if either marks it.
func MethodFunc(f func(fullMethod string) bool) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("hedge: MethodFunc(nil): the function must not be nil")
		}
		c.funcs = append(c.funcs, f)
		return nil
	}
}

// NonFatalCodes sets the status codes with which a failed attempt lets the
// others go on (and sends the next one at once, within the budget): by
// default Unavailable alone, which grpc-go returns when a backend cannot be
// reached or is draining. Any other code, OK included, commits the call:
// it is the call's answer and the other attempts are cancelled.
// NonFatalCodes() with no code makes every code fatal, as in a gRPC
// hedgingPolicy without nonFatalStatusCodes. OK cannot be non-fatal.
func NonFatalCodes(cs ...codes.Code) Option {
	return func(c *config) error {
		var set uint32
		for _, code := range cs {
			if err := checkCode(code); err != nil {
				return fmt.Errorf("hedge: NonFatalCodes(%v): %w", code, err)
			}
			set |= 1 << code
		}
		c.nonFatal = set
		return nil
	}
}

// The checks behind the options and ParseConfig.

func checkDelay(d time.Duration) error {
	switch {
	case d < 0:
		return errors.New("must not be negative")
	case d > maxDelay:
		return fmt.Errorf("must be at most %v", maxDelay)
	}
	return nil
}

func checkQuantile(q float64) error {
	if !(q > 0 && q < 1) { // NaN too
		return errors.New("must be a quantile strictly between 0 and 1, such as 0.95")
	}
	return nil
}

func checkMaxAttempts(n int) error {
	return between(n, 2, maxMaxAttempts, " (the first attempt included)")
}

func checkBudget(r float64) error {
	if !(r > 0 && r <= 1) { // NaN too
		return errors.New("must be a ratio of extra attempts to calls in (0, 1], such as 0.1")
	}
	return nil
}

func checkBurst(n int) error { return between(n, 1, maxBudgetBurst, "") }

// between checks that lo <= n <= hi; note ends the error.
func between(n, lo, hi int, note string) error {
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d%s", lo, hi, note)
	}
	return nil
}

func checkMethod(name string) error {
	rest, ok := strings.CutPrefix(name, "/")
	svc, m, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || svc == "" || m == "" || strings.Contains(m, "/") ||
		(strings.Contains(m, "*") && m != "*") || strings.ContainsAny(name, " \t\r\n") {
		return errors.New(`want a full method name such as "/package.Service/Method" or "/package.Service/*"`)
	}
	return nil
}

func checkCode(code codes.Code) error {
	switch {
	case code == codes.OK:
		return errors.New("OK is an answer and cannot be non-fatal")
	case code > codes.Unauthenticated:
		return fmt.Errorf("not a gRPC status code (%d)", uint32(code))
	}
	return nil
}

// Per-call settings, carried by the context.

type ctxKey struct{}

type perCall struct {
	idempotent bool
	disabled   bool
	hasDelay   bool
	delay      time.Duration
}

func fromContext(ctx context.Context) perCall {
	pc, _ := ctx.Value(ctxKey{}).(perCall)
	return pc
}

// Idempotent marks the calls made with the returned context as idempotent,
// so that they are hedged whatever the options say of their method (unless
// Disable is also set). Use it for a call that is safe to send twice where
// other calls of the same method are not.
func Idempotent(ctx context.Context) context.Context {
	pc := fromContext(ctx)
	pc.idempotent = true
	return context.WithValue(ctx, ctxKey{}, pc)
}

// Disable turns hedging off for the calls made with the returned context:
// they are sent once, whatever the options and Idempotent say.
func Disable(ctx context.Context) context.Context {
	pc := fromContext(ctx)
	pc.disabled = true
	return context.WithValue(ctx, ctxKey{}, pc)
}

// WithDelay sets the delay of the calls made with the returned context, in
// place of the Hedger's, fixed or adaptive; d < 0 counts as 0. It does not make a call
// hedged by itself: its method must be marked idempotent.
func WithDelay(ctx context.Context, d time.Duration) context.Context {
	pc := fromContext(ctx)
	pc.hasDelay, pc.delay = true, max(d, 0)
	return context.WithValue(ctx, ctxKey{}, pc)
}

// roundTokens converts a ratio to the budget's fixed-point units.
func roundTokens(r float64) int64 { return int64(math.Round(r * tokenUnit)) }
