package hedge

import (
	"time"

	"google.golang.org/grpc/codes"
)

// A Call is the Hedger's side of one hedged call whose attempts the
// caller sends itself, as a proxy relaying a request's frames does: it
// holds the Hedger's budget, counters and adaptive delay for the call.
// Begin a call, send its first attempt, wait Delay after each attempt,
// then send another if Extra allows (at once after an attempt failed with
// a NonFatal code), and End it with the attempt that decided it. A Call
// is not safe for concurrent use.
type Call struct {
	h           *Hedger
	method      string
	start       time.Time
	sent        int  // attempts sent, the first included
	denied      bool // the budget refused an extra attempt
	firstFailed bool // the first attempt failed with a non-fatal code
}

// Begin counts a call of method, which may be hedged, and returns its
// bookkeeping: its first attempt is sent.
func (h *Hedger) Begin(method string) *Call {
	h.calls.Add(1)
	h.budget.add()
	return &Call{h: h, method: method, start: time.Now(), sent: 1}
}

// Delay is how long an attempt is left alone before the next is sent:
// the method's current delay (see CurrentDelay).
func (c *Call) Delay() time.Duration { return c.h.CurrentDelay(c.method) }

// Extra reports whether one more attempt may be sent: MaxAttempts allows
// it and the budget has a token, which Extra takes. Once the budget has
// refused the call, Extra refuses it too.
func (c *Call) Extra() bool {
	if c.sent >= c.h.cfg.maxAttempts || c.denied {
		return false
	}
	if !c.h.budget.take() {
		c.denied = true
		c.h.denied.Add(1)
		return false
	}
	if c.sent == 1 {
		c.h.hedged.Add(1)
	}
	c.h.extra.Add(1)
	c.sent++
	return true
}

// More reports whether Extra may still allow an attempt: MaxAttempts is
// not reached and the budget has not refused the call.
func (c *Call) More() bool { return c.sent < c.h.cfg.maxAttempts && !c.denied }

// NonFatal reports whether an attempt that failed with code lets the
// call go on: its other attempts keep running, and the next is sent at
// once (NonFatalCodes; UNAVAILABLE unless set).
func (c *Call) NonFatal(code codes.Code) bool { return c.h.cfg.isNonFatal(code) }

// Failed records that attempt n (0 is the first) failed with a non-fatal
// code: a first attempt that failed teaches the adaptive delay nothing.
func (c *Call) Failed(n int) {
	if n == 0 {
		c.firstFailed = true
	}
}

// End records that attempt n (0 is the first) decided the call, with err:
// a success teaches the adaptive delay the first attempt's latency (or,
// if a later attempt won while the first still ran, the time it had run),
// and counts a win if a later attempt answered.
func (c *Call) End(n int, err error) {
	if err != nil {
		return
	}
	if n > 0 {
		c.h.wins.Add(1)
	}
	if c.h.cfg.quantile > 0 && (n == 0 || !c.firstFailed) {
		c.h.window(c.method).add(time.Since(c.start))
	}
}
