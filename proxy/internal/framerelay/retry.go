package framerelay

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RetryPolicy retries the calls of a route, as gRPC's retryPolicy (gRFC
// A6) does: an attempt that fails with one of Codes before its backend
// sent any response header is made again on a backend the policy picks,
// after a random backoff in [0, min(InitialBackoff ×
// BackoffMultiplier^(n-1), MaxBackoff)), within the call's deadline; each
// retry carries grpc-previous-rpc-attempts. A backend's refusal (a
// REFUSED_STREAM reset, a GOAWAY that did not take the call, a connection
// lost before any answer) is an UNAVAILABLE attempt.
//
// The route's calls are unary: the relay holds each call's request whole
// (at most a stream window, 1 MiB) before the first attempt, to send it
// again; a call that sends a second message is refused (UNIMPLEMENTED),
// and one whose request is larger is refused (RESOURCE_EXHAUSTED). The
// held request keeps its client's window until the call has an answer.
// Zero fields take the defaults: 3 attempts, 50ms, 1s, 2, [UNAVAILABLE].
type RetryPolicy struct {
	MaxAttempts                int // the first attempt included
	InitialBackoff, MaxBackoff time.Duration
	BackoffMultiplier          float64
	Codes                      []codes.Code
}

func (p RetryPolicy) withDefaults() *RetryPolicy {
	p.MaxAttempts = cmp.Or(p.MaxAttempts, 3)
	p.InitialBackoff = cmp.Or(p.InitialBackoff, 50*time.Millisecond)
	p.MaxBackoff = cmp.Or(p.MaxBackoff, time.Second)
	p.BackoffMultiplier = cmp.Or(p.BackoffMultiplier, 2)
	if len(p.Codes) == 0 {
		p.Codes = []codes.Code{codes.Unavailable}
	}
	return &p
}

func (p RetryPolicy) check() error {
	switch {
	case p.MaxAttempts < 2:
		return errors.New("retry: maxAttempts under 2 (the first attempt included)")
	case p.InitialBackoff < 0 || p.MaxBackoff < 0:
		return errors.New("retry: negative backoff")
	case !(p.BackoffMultiplier >= 1):
		return errors.New("retry: backoffMultiplier under 1")
	}
	return nil
}

// retried is what a call of a route with a RetryPolicy keeps to make its
// attempts again.
type retried struct {
	policy   *RetryPolicy
	attempts int     // made so far
	backoff  float64 // the next backoff's bound, ns
	info     balancer.PickInfo
	fields   []hpack.HeaderField // the request headers, as first sent
	end      bool                // the headers ended the request
	cid      uint32
	// repicks counts the picks of a backend whose connection had just
	// closed (the policy had not heard yet), which are picked again.
	repicks int
}

// errSecondRequest and errRequestOverWindow refuse calls a route with a
// RetryPolicy cannot replay.
var (
	errSecondRequest     = status.Error(codes.Unimplemented, "framerelay: the route retries unary calls, and this call sent a second request message")
	errRequestOverWindow = status.Errorf(codes.ResourceExhausted, "framerelay: the route retries unary calls, and this call's request is over %d bytes, the most the relay holds to send again", StreamWindow)
)

// waitWhole starts call l of route rt, which retries: it waits for its
// request, whole, and then for a backend (see wait). Its deadline, the
// route's or its client's, bounds its retries.
func (r *Relay) waitWhole(l *link, rt route, cid uint32, info balancer.PickInfo, fields []hpack.HeaderField, end bool) {
	if d, ok := timeoutOf(fields); ok && l.deadline.IsZero() {
		l.deadline = time.Now().Add(d)
	}
	if rt.hedge != nil {
		l.hedge = &hedging{call: rt.hedge.Begin(info.FullMethodName), info: info, fields: fields, end: end, cid: cid, picking: 1}
	} else {
		l.retry = &retried{policy: rt.retry, attempts: 1, backoff: float64(rt.retry.InitialBackoff), info: info, fields: fields, end: end, cid: cid}
	}
	l.wait = &pending{stop: make(chan struct{}), keep: true, complete: make(chan struct{})}
	if end {
		l.wait.whole = true
		close(l.wait.complete)
	}
	r.wait(l, rt.cl, cid, info, fields, end, rt.timeout)
}

// holdWhole holds DATA frame f of call l, whose route retries, until its
// request is whole; false ends the connection (the client overran its
// window).
func (c *clientConn) holdWhole(l *link, w *pending, f *http2.DataFrame) bool {
	w.mu.Lock()
	whole := w.whole
	if whole || w.gaveUp {
		w.mu.Unlock()
		c.giveConn(int64(f.Length)) // nothing may follow the request's end
		return true
	}
	if l.reqMsgs.count > 1 {
		w.mu.Unlock()
		c.giveConn(int64(f.Length))
		l.abort(f.StreamID, errSecondRequest)
		return true
	}
	ok := w.hold(f)
	over := ok && w.size >= StreamWindow && !f.StreamEnded()
	if ok && f.StreamEnded() {
		w.whole = true
		close(w.complete)
	}
	w.mu.Unlock()
	switch {
	case !ok:
		c.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
	case over:
		l.abort(f.StreamID, errRequestOverWindow)
	}
	return ok
}

// retryLater is told that the attempt of call l failed with code before
// any response: if the route's policy, the call's deadline and its
// attempts left allow, it lets the attempt go and makes the next one
// after a backoff, and returns true; else the caller ends the call.
func (r *Relay) retryLater(l *link, code codes.Code) bool {
	rt := l.retry
	if rt == nil || l.responded.Load() || !slices.Contains(rt.policy.Codes, code) {
		return false
	}
	l.swap.Lock()
	defer l.swap.Unlock()
	if rt.attempts >= rt.policy.MaxAttempts {
		return false
	}
	delay := time.Duration(rand.Float64() * min(rt.backoff, float64(rt.policy.MaxBackoff)))
	if !l.deadline.IsZero() && time.Now().Add(delay).After(l.deadline) {
		return false
	}
	w := l.wait
	w.mu.Lock()
	if w.gaveUp || !w.connected {
		w.mu.Unlock()
		return false
	}
	w.connected = false // between attempts: a reset or a timeout gives up
	w.mu.Unlock()
	rt.backoff *= rt.policy.BackoffMultiplier
	if l.done != nil {
		l.done(balancer.DoneInfo{Err: status.Error(code, "framerelay: the attempt failed"), BytesSent: true})
		l.done = nil
	}
	bc, h := l.backend, l.toBackend
	bc.mu.Lock()
	if !h.done { // the backend answered before reading the whole request
		bc.fr.WriteRSTStream(h.id, http2.ErrCodeCancel)
		h.dropLocked() // kept data: no window to give
		h.finishLocked()
	}
	bc.unlock()
	c := l.client
	c.mu.Lock()
	if !l.toClient.done {
		l.toClient.finishLocked()
	}
	c.mu.Unlock()
	go r.nextAttempt(l, delay)
	return true
}

// maxRepicks and repickDelay bound nextAttempt's picks again.
const (
	maxRepicks  = 10
	repickDelay = 10 * time.Millisecond
)

// nextAttempt makes call l's next attempt, after delay.
func (r *Relay) nextAttempt(l *link, delay time.Duration) {
	w, rt := l.wait, l.retry
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-w.stop:
		t.Stop()
		return
	}
	bc, done, err := l.cl.pickConn(rt.info, maxPickWait, w.stop)
	l.swap.Lock()
	defer l.swap.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !l.pickedLocked(rt.cid, done, err):
	case bc.goneFlag.Load() && rt.repicks < maxRepicks:
		// The connection the policy offered has just closed: its policy
		// will hear of it soon; pick again then.
		rt.repicks++
		if done != nil {
			done(balancer.DoneInfo{Err: status.Error(codes.Unavailable, "framerelay: backend connection closed")})
		}
		go r.nextAttempt(l, repickDelay)
	default:
		fields := replayFields(rt.fields, l.deadline, rt.attempts)
		rt.attempts++
		r.connect(l, rt.cid, fields, rt.end, bc, done, w)
	}
}

// replayFields is the request headers of a call's attempt after
// previous others, first sent as fields: its grpc-timeout what is left of
// its deadline (if set), and grpc-previous-rpc-attempts.
func replayFields(first []hpack.HeaderField, deadline time.Time, previous int) []hpack.HeaderField {
	fields := make([]hpack.HeaderField, 0, len(first)+1)
	for _, f := range first {
		if f.Name == "grpc-timeout" && !deadline.IsZero() {
			f.Value = encodeTimeout(max(time.Until(deadline), time.Millisecond))
		}
		fields = append(fields, f)
	}
	return append(fields, hpack.HeaderField{Name: "grpc-previous-rpc-attempts", Value: strconv.Itoa(previous)})
}

// commit gives back the window of the request call l kept to send again
// (if it did): it has an answer, or ended, and will not be retried.
func (l *link) commit() {
	if w := l.wait; w != nil && w.keep {
		l.client.giveConn(w.kept.Swap(0))
	}
}
