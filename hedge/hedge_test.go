package hedge_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// These tests drive the interceptor with a scripted invoker: every attempt
// shows up on a channel, and the test decides when and how it ends. They
// check the semantics exactly, without servers or timing luck.

const method = "/grpclb.testbed.v1.Echo/Echo"

// fakeCall is one attempt seen by the scripted invoker.
type fakeCall struct {
	n      int // attempt number: 0 for the first, 1 for the first hedge...
	ctx    context.Context
	answer chan outcome
	ended  chan struct{} // closed when the attempt returned
}

// outcome is how the test ends an attempt: with err, or with a reply
// naming backend.
type outcome struct {
	backend string
	err     error
}

func (c *fakeCall) reply(backend string) { c.answer <- outcome{backend: backend} }
func (c *fakeCall) fail(code codes.Code) {
	c.answer <- outcome{err: status.Error(code, "attempt "+strconv.Itoa(c.n))}
}

// prevAttempts is the grpc-previous-rpc-attempts metadata of the attempt.
func (c *fakeCall) prevAttempts() string {
	md, _ := metadata.FromOutgoingContext(c.ctx)
	if v := md.Get("grpc-previous-rpc-attempts"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// plainReply is a reply that is not a proto message.
type plainReply struct{ Backend string }

type fake struct {
	calls chan *fakeCall
	n     atomic.Int32
}

func newFake() *fake { return &fake{calls: make(chan *fakeCall, 16)} }

// invoke is a grpc.UnaryInvoker that behaves like grpc-go's for what the
// hedger relies on: it returns when its context ends, and it writes the
// reply and the header, trailer and peer call options when it returns.
func (f *fake) invoke(ctx context.Context, _ string, _, reply any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
	f.n.Add(1)
	c := &fakeCall{ctx: ctx, answer: make(chan outcome, 1), ended: make(chan struct{})}
	c.n, _ = strconv.Atoi(c.prevAttempts()) // "" for the first attempt: 0
	defer close(c.ended)
	f.calls <- c
	var o outcome
	select {
	case o = <-c.answer:
	case <-ctx.Done():
		o.err = status.FromContextError(ctx.Err()).Err()
	}
	if o.err == nil {
		switch r := reply.(type) {
		case *echopb.EchoResponse:
			r.Backend = o.backend
		case *plainReply:
			r.Backend = o.backend
		}
	}
	tag := strconv.Itoa(c.n)
	for _, opt := range opts {
		switch opt := opt.(type) {
		case grpc.HeaderCallOption:
			*opt.HeaderAddr = metadata.Pairs("attempt", tag)
		case grpc.TrailerCallOption:
			*opt.TrailerAddr = metadata.Pairs("attempt", tag)
		case grpc.PeerCallOption:
			opt.PeerAddr.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1000 + c.n}
		case grpc.OnFinishCallOption:
			opt.OnFinish(o.err) // the hedger must keep these from attempts
		}
	}
	return o.err
}

// next returns the next attempt, or fails the test if none comes.
func (f *fake) next(t *testing.T) *fakeCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt within 10s")
		return nil
	}
}

// nextN returns the next n attempts in the order they were sent, which
// may differ from the order they reached the invoker.
func (f *fake) nextN(t *testing.T, n int) []*fakeCall {
	t.Helper()
	cs := make([]*fakeCall, n)
	for range n {
		c := f.next(t)
		if c.n >= n || cs[c.n] != nil {
			t.Fatalf("unexpected attempt %d", c.n)
		}
		cs[c.n] = c
	}
	return cs
}

// pair returns the first attempt and the first hedge.
func (f *fake) pair(t *testing.T) (a0, a1 *fakeCall) {
	t.Helper()
	cs := f.nextN(t, 2)
	return cs[0], cs[1]
}

// drain forgets the attempts of finished calls that the test did not take.
func (f *fake) drain() {
	for {
		select {
		case <-f.calls:
		default:
			return
		}
	}
}

// attempts is the number of attempts the invoker has seen.
func (f *fake) attempts() int { return int(f.n.Load()) }

func newHedger(t *testing.T, opts ...hedge.Option) *hedge.Hedger {
	t.Helper()
	h, err := hedge.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// call runs one call through h's interceptor in a goroutine.
type call struct {
	reply   *echopb.EchoResponse
	header  metadata.MD
	trailer metadata.MD
	peer    peer.Peer
	done    chan error
	finish  []error // OnFinish calls
}

func start(ctx context.Context, h *hedge.Hedger, f *fake, fullMethod string) *call {
	c := &call{reply: &echopb.EchoResponse{Backend: "stale"}, done: make(chan error, 1)}
	go func() {
		c.done <- h.UnaryClientInterceptor()(ctx, fullMethod, &echopb.EchoRequest{}, c.reply, nil, f.invoke,
			grpc.Header(&c.header), grpc.Trailer(&c.trailer), grpc.Peer(&c.peer),
			grpc.OnFinish(func(err error) { c.finish = append(c.finish, err) }))
	}()
	return c
}

// wait returns the call's error, or fails the test if it does not return.
func (c *call) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10s")
		return nil
	}
}

// checkWinner checks that everything the caller sees came from attempt n.
func (c *call) checkWinner(t *testing.T, n int, backend string) {
	t.Helper()
	tag := strconv.Itoa(n)
	if got := c.reply.GetBackend(); got != backend {
		t.Errorf("reply from %q, want %q", got, backend)
	}
	if got := c.header.Get("attempt"); len(got) != 1 || got[0] != tag {
		t.Errorf("header attempt = %v, want [%s]", got, tag)
	}
	if got := c.trailer.Get("attempt"); len(got) != 1 || got[0] != tag {
		t.Errorf("trailer attempt = %v, want [%s]", got, tag)
	}
	if a, ok := c.peer.Addr.(*net.TCPAddr); !ok || a.Port != 1000+n {
		t.Errorf("peer = %v, want port %d", c.peer.Addr, 1000+n)
	}
	if len(c.finish) != 1 {
		t.Errorf("OnFinish called %d times, want once", len(c.finish))
	}
}

// cancelled fails the test unless the attempt's context was cancelled and
// the attempt returned.
func cancelled(t *testing.T, c *fakeCall) {
	t.Helper()
	select {
	case <-c.ended:
	default:
		t.Errorf("attempt %d still running after the call returned", c.n)
	}
	if c.ctx.Err() == nil {
		t.Errorf("attempt %d was not cancelled", c.n)
	}
}

func checkStats(t *testing.T, h *hedge.Hedger, want hedge.Stats) {
	t.Helper()
	if got := h.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestFirstAnswersBeforeDelay(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Hour))
	f := newFake()
	c := start(context.Background(), h, f, method)
	a0 := f.next(t)
	a0.reply("b1")
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	c.checkWinner(t, 0, "b1")
	if f.attempts() != 1 {
		t.Errorf("%d attempts, want 1", f.attempts())
	}
	if a0.prevAttempts() != "" {
		t.Errorf("first attempt has grpc-previous-rpc-attempts %q", a0.prevAttempts())
	}
	checkStats(t, h, hedge.Stats{Calls: 1})
}

// The hedge answers first: the caller gets its reply, header, trailer and
// peer, and the first attempt is cancelled.
func TestHedgeWins(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Millisecond))
	f := newFake()
	c := start(context.Background(), h, f, method)
	a0, a1 := f.pair(t)
	if got := a1.prevAttempts(); got != "1" {
		t.Errorf("hedge's grpc-previous-rpc-attempts = %q, want 1", got)
	}
	a1.reply("b2")
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	c.checkWinner(t, 1, "b2")
	cancelled(t, a0)
	checkStats(t, h, hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1})
}

// The first attempt answers after the hedge was sent: it wins, the hedge is
// cancelled.
func TestFirstWinsAfterHedge(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Millisecond))
	f := newFake()
	c := start(context.Background(), h, f, method)
	a0, a1 := f.pair(t)
	a0.reply("b1")
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	c.checkWinner(t, 0, "b1")
	cancelled(t, a1)
	checkStats(t, h, hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1})
}

// With MaxAttempts(3) a third attempt goes a delay after the second.
func TestThirdAttempt(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Millisecond), hedge.MaxAttempts(3))
	f := newFake()
	c := start(context.Background(), h, f, method)
	as := f.nextN(t, 3)
	a0, a1, a2 := as[0], as[1], as[2]
	if got := a2.prevAttempts(); got != "2" {
		t.Errorf("third attempt's grpc-previous-rpc-attempts = %q, want 2", got)
	}
	a2.reply("b3")
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	c.checkWinner(t, 2, "b3")
	cancelled(t, a0)
	cancelled(t, a1)
	checkStats(t, h, hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 2, HedgeWins: 1})
}

// Replies that are not proto messages are copied too.
func TestPlainReply(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(0))
	f := newFake()
	reply := &plainReply{Backend: "stale"}
	done := make(chan error, 1)
	go func() {
		done <- h.UnaryClientInterceptor()(context.Background(), method, nil, reply, nil, f.invoke)
	}()
	_, a1 := f.pair(t)
	a1.reply("b2")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if reply.Backend != "b2" {
		t.Errorf("reply from %q, want b2", reply.Backend)
	}
}

// What failed attempts do to the call: fatal codes commit, non-fatal ones
// let the others go on.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []hedge.Option
		// script ends the attempts of one call.
		script      func(t *testing.T, f *fake)
		wantCode    codes.Code
		wantMsg     string // of the error, if any
		wantBackend string // of the reply, on success
		wantStats   hedge.Stats
	}{{
		name: "fatal first commits",
		opts: []hedge.Option{hedge.Delay(time.Millisecond)},
		script: func(t *testing.T, f *fake) {
			a0, a1 := f.pair(t)
			a0.fail(codes.NotFound)
			<-a1.ended // cancelled by the commit
		},
		wantCode:  codes.NotFound,
		wantMsg:   "attempt 0",
		wantStats: hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1},
	}, {
		name: "fatal hedge commits",
		opts: []hedge.Option{hedge.Delay(time.Millisecond)},
		script: func(t *testing.T, f *fake) {
			a0, a1 := f.pair(t)
			a1.fail(codes.PermissionDenied)
			<-a0.ended
		},
		wantCode:  codes.PermissionDenied,
		wantMsg:   "attempt 1",
		wantStats: hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1},
	}, {
		name: "unavailable first lets the hedge win",
		opts: []hedge.Option{hedge.Delay(time.Millisecond)},
		script: func(t *testing.T, f *fake) {
			a0, a1 := f.pair(t)
			a0.fail(codes.Unavailable)
			<-a0.ended
			a1.reply("b2")
		},
		wantBackend: "b2",
		wantStats:   hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1},
	}, {
		name: "unavailable hedge lets the first win",
		opts: []hedge.Option{hedge.Delay(time.Millisecond)},
		script: func(t *testing.T, f *fake) {
			a0, a1 := f.pair(t)
			a1.fail(codes.Unavailable)
			<-a1.ended
			a0.reply("b1")
		},
		wantBackend: "b1",
		wantStats:   hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1},
	}, {
		// The delay is an hour: the hedge can only come from the failure.
		name: "unavailable sends the next attempt at once",
		opts: []hedge.Option{hedge.Delay(time.Hour)},
		script: func(t *testing.T, f *fake) {
			f.next(t).fail(codes.Unavailable)
			f.next(t).reply("b2")
		},
		wantBackend: "b2",
		wantStats:   hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1},
	}, {
		name: "every attempt unavailable: the last error",
		opts: []hedge.Option{hedge.Delay(time.Hour)},
		script: func(t *testing.T, f *fake) {
			f.next(t).fail(codes.Unavailable)
			f.next(t).fail(codes.Unavailable)
		},
		wantCode:  codes.Unavailable,
		wantMsg:   "attempt 1",
		wantStats: hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1},
	}, {
		name: "NonFatalCodes() makes unavailable fatal",
		opts: []hedge.Option{hedge.Delay(time.Hour), hedge.NonFatalCodes()},
		script: func(t *testing.T, f *fake) {
			f.next(t).fail(codes.Unavailable)
		},
		wantCode:  codes.Unavailable,
		wantMsg:   "attempt 0",
		wantStats: hedge.Stats{Calls: 1},
	}, {
		name: "a custom non-fatal code",
		opts: []hedge.Option{hedge.Delay(time.Hour), hedge.NonFatalCodes(codes.ResourceExhausted)},
		script: func(t *testing.T, f *fake) {
			f.next(t).fail(codes.ResourceExhausted)
			f.next(t).reply("b2")
		},
		wantBackend: "b2",
		wantStats:   hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHedger(t, append([]hedge.Option{hedge.Methods(method)}, tc.opts...)...)
			f := newFake()
			c := start(context.Background(), h, f, method)
			tc.script(t, f)
			err := c.wait(t)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("call failed with %v, want %v", err, tc.wantCode)
			}
			if err != nil && status.Convert(err).Message() != tc.wantMsg {
				t.Errorf("error %v, want message %q", err, tc.wantMsg)
			}
			if err == nil && c.reply.GetBackend() != tc.wantBackend {
				t.Errorf("reply from %q, want %q", c.reply.GetBackend(), tc.wantBackend)
			}
			if len(c.finish) != 1 || status.Code(c.finish[0]) != tc.wantCode {
				t.Errorf("OnFinish calls %v, want one with %v", c.finish, tc.wantCode)
			}
			checkStats(t, h, tc.wantStats)
		})
	}
}

// The second call of a budget with one token finds it empty after the
// failure: every attempt of it is the first.
func TestUnavailableBudgetEmpty(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Hour), hedge.Budget(0.01), hedge.BudgetBurst(1))
	f := newFake()
	c := start(context.Background(), h, f, method)
	f.next(t).fail(codes.Unavailable)
	f.next(t).reply("b2")
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	c = start(context.Background(), h, f, method)
	f.next(t).fail(codes.Unavailable)
	if err := c.wait(t); status.Code(err) != codes.Unavailable {
		t.Fatalf("second call: %v, want Unavailable", err)
	}
	if f.attempts() != 3 {
		t.Errorf("%d attempts, want 3", f.attempts())
	}
	checkStats(t, h, hedge.Stats{Calls: 2, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1, BudgetDenied: 1})
}

// A caller's deadline shorter than the delay: one attempt, no hedge, and
// the budget untouched.
func TestDeadlineShorterThanDelay(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(300*time.Millisecond))
	f := newFake()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	c := start(ctx, h, f, method)
	f.next(t) // never answered
	if err := c.wait(t); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call: %v, want DeadlineExceeded", err)
	}
	if f.attempts() != 1 {
		t.Errorf("%d attempts, want 1", f.attempts())
	}
	checkStats(t, h, hedge.Stats{Calls: 1})
}

// The caller cancels: every attempt is cancelled and the call returns.
func TestCallerCancels(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Millisecond))
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	c := start(ctx, h, f, method)
	a0, a1 := f.pair(t)
	cancel()
	if err := c.wait(t); status.Code(err) != codes.Canceled {
		t.Fatalf("call: %v, want Canceled", err)
	}
	cancelled(t, a0)
	cancelled(t, a1)
}

// Which calls are hedged: only those marked idempotent, and never those
// with Disable.
func TestWhichCalls(t *testing.T) {
	other := "/grpclb.testbed.v1.Echo/EchoOther"
	for _, tc := range []struct {
		name   string
		opts   []hedge.Option
		ctx    func(context.Context) context.Context
		method string
		hedged bool
	}{
		{name: "no option", method: method},
		{name: "another method listed", opts: []hedge.Option{hedge.Methods(other)}, method: method},
		{name: "another service listed", opts: []hedge.Option{hedge.Methods("/pkg.Other/*")}, method: method},
		{name: "listed", opts: []hedge.Option{hedge.Methods(other, method)}, method: method, hedged: true},
		{name: "service listed", opts: []hedge.Option{hedge.Methods("/grpclb.testbed.v1.Echo/*")}, method: method, hedged: true},
		{name: "listed twice", opts: []hedge.Option{hedge.Methods(other), hedge.Methods(method)}, method: method, hedged: true},
		{name: "MethodFunc true", opts: []hedge.Option{hedge.MethodFunc(func(m string) bool { return m == method })}, method: method, hedged: true},
		{name: "MethodFunc false", opts: []hedge.Option{hedge.MethodFunc(func(m string) bool { return m == other })}, method: method},
		{name: "Idempotent context", ctx: hedge.Idempotent, method: method, hedged: true},
		{name: "Disable context", opts: []hedge.Option{hedge.Methods(method)}, ctx: hedge.Disable, method: method},
		{name: "Disable beats Idempotent", ctx: func(ctx context.Context) context.Context { return hedge.Disable(hedge.Idempotent(ctx)) }, method: method},
		{name: "Idempotent does not undo Disable", opts: []hedge.Option{hedge.Methods(method)}, ctx: func(ctx context.Context) context.Context { return hedge.Idempotent(hedge.Disable(ctx)) }, method: method},
		{name: "WithDelay alone", ctx: func(ctx context.Context) context.Context { return hedge.WithDelay(ctx, 0) }, method: method},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHedger(t, append(tc.opts, hedge.Delay(0))...)
			f := newFake()
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			c := start(ctx, h, f, tc.method)
			if tc.hedged {
				_, a1 := f.pair(t) // the hedge is sent at once
				a1.reply("b2")
			} else {
				f.next(t).reply("b1")
			}
			if err := c.wait(t); err != nil {
				t.Fatal(err)
			}
			want := hedge.Stats{}
			if tc.hedged {
				want = hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1}
			} else if f.attempts() != 1 {
				t.Errorf("%d attempts, want 1", f.attempts())
			}
			checkStats(t, h, want)
		})
	}
}

// WithDelay overrides the Hedger's delay, both ways.
func TestWithDelay(t *testing.T) {
	t.Run("shorter", func(t *testing.T) {
		h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Hour))
		f := newFake()
		c := start(hedge.WithDelay(context.Background(), time.Millisecond), h, f, method)
		_, a1 := f.pair(t)
		a1.reply("b2")
		if err := c.wait(t); err != nil {
			t.Fatal(err)
		}
		checkStats(t, h, hedge.Stats{Calls: 1, Hedged: 1, ExtraAttempts: 1, HedgeWins: 1})
	})
	t.Run("longer", func(t *testing.T) {
		h := newHedger(t, hedge.Methods(method), hedge.Delay(0))
		f := newFake()
		c := start(hedge.WithDelay(context.Background(), time.Hour), h, f, method)
		f.next(t).reply("b1")
		if err := c.wait(t); err != nil {
			t.Fatal(err)
		}
		checkStats(t, h, hedge.Stats{Calls: 1})
	})
}

// Once the budget is spent, calls send no hedge; it refills with calls.
func TestBudgetExhausted(t *testing.T) {
	const calls = 20
	// One token at start, 0.1 per call: the first call hedges, the next
	// nine find less than a token, the tenth has one again (1 - 1 + 10 ×
	// 0.1), and the ten after it none.
	h := newHedger(t, hedge.Methods(method), hedge.Delay(0), hedge.Budget(0.1), hedge.BudgetBurst(1))
	f := newFake()
	var hedged []int
	for i := range calls {
		before := h.Stats().BudgetDenied
		c := start(context.Background(), h, f, method)
		// Wait for the hedge or the budget's refusal before answering.
		var a0, a1 *fakeCall
		deadline := time.Now().Add(10 * time.Second)
		for a0 == nil || (a1 == nil && h.Stats().BudgetDenied == before) {
			if time.Now().After(deadline) {
				t.Fatalf("call %d: neither a hedge nor a refusal within 10s", i)
			}
			select {
			case a := <-f.calls:
				if a.n == 0 {
					a0 = a
				} else {
					a1 = a
				}
			case <-time.After(time.Millisecond):
			}
		}
		if a1 != nil {
			hedged = append(hedged, i)
			a1.reply("b2")
		} else {
			a0.reply("b1")
		}
		if err := c.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	if len(hedged) != 2 || hedged[0] != 0 || hedged[1] != 10 {
		t.Errorf("calls %v hedged, want [0 10]", hedged)
	}
	checkStats(t, h, hedge.Stats{Calls: calls, Hedged: 2, ExtraAttempts: 2, HedgeWins: 2, BudgetDenied: calls - 2})
}

// AdaptiveDelay uses the fixed delay until it has enough latencies, then
// their quantile.
func TestAdaptiveDelay(t *testing.T) {
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Hour), hedge.AdaptiveDelay(0.95))
	if got := h.CurrentDelay(method); got != time.Hour {
		t.Fatalf("CurrentDelay before any call = %v, want the fixed 1h", got)
	}
	f := newFake()
	for i := range 100 {
		c := start(context.Background(), h, f, method)
		f.next(t).reply("b1") // the first attempt, or a hedge once the delay is short
		if err := c.wait(t); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if i == 10 {
			if got := h.CurrentDelay(method); got != time.Hour {
				t.Fatalf("CurrentDelay after 11 calls = %v, want the fixed 1h", got)
			}
		}
	}
	// The calls took microseconds; their p95 is far below a second.
	if got := h.CurrentDelay(method); got <= 0 || got >= time.Second {
		t.Errorf("CurrentDelay after 100 calls = %v, want the calls' p95", got)
	}
	if got := h.CurrentDelay("/other.Service/Method"); got != time.Hour {
		t.Errorf("CurrentDelay of another method = %v, want the fixed 1h", got)
	}
	if got := h.Stats().Calls; got != 100 {
		t.Errorf("Stats().Calls = %d, want 100", got)
	}
}

// Without Delay the delay adapts; Delay alone fixes it.
func TestDelayModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []hedge.Option
		adaptive bool
	}{
		{name: "default", adaptive: true},
		{name: "Delay", opts: []hedge.Option{hedge.Delay(time.Hour)}},
		{name: "AdaptiveDelay", opts: []hedge.Option{hedge.AdaptiveDelay(0.99)}, adaptive: true},
		{name: "both", opts: []hedge.Option{hedge.AdaptiveDelay(0.99), hedge.Delay(time.Hour)}, adaptive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHedger(t, append(tc.opts, hedge.Methods(method))...)
			f := newFake()
			for range 100 {
				c := start(context.Background(), h, f, method)
				f.next(t).reply("b1")
				if err := c.wait(t); err != nil {
					t.Fatal(err)
				}
				f.drain()
			}
			got := h.CurrentDelay(method)
			if adaptive := got < time.Second && got != hedge.DefaultDelay; adaptive != tc.adaptive {
				t.Errorf("CurrentDelay after 100 calls of microseconds = %v; want adaptive %v", got, tc.adaptive)
			}
		})
	}
}

// The package-level interceptor panics on invalid options.
func TestUnaryClientInterceptorPanics(t *testing.T) {
	defer func() {
		r := recover()
		err, _ := r.(error)
		if err == nil || err.Error() != "hedge: MaxAttempts(1): must be between 2 and 5 (the first attempt included)" {
			t.Errorf("recovered %v, want the option's error", r)
		}
	}()
	hedge.UnaryClientInterceptor(hedge.MaxAttempts(1))
}

func TestUnaryClientInterceptor(t *testing.T) {
	f := newFake()
	ic := hedge.UnaryClientInterceptor(hedge.Methods(method), hedge.Delay(0))
	done := make(chan error, 1)
	reply := &echopb.EchoResponse{}
	go func() { done <- ic(context.Background(), method, nil, reply, nil, f.invoke) }()
	_, a1 := f.pair(t)
	a1.reply("b2")
	if err := <-done; err != nil || reply.GetBackend() != "b2" {
		t.Errorf("call: %v, reply from %q; want the hedge's", err, reply.GetBackend())
	}
}

// BenchmarkFirstAttempt measures what hedging costs a call whose first
// attempt answers before the delay, against the call without the hedger.
func BenchmarkFirstAttempt(b *testing.B) {
	invoker := func(ctx context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		reply.(*echopb.EchoResponse).Backend = "b1"
		return nil
	}
	for _, bc := range []struct {
		name string
		opts []hedge.Option
	}{
		{"not hedged", nil},
		{"hedged", []hedge.Option{hedge.Methods(method), hedge.Delay(time.Second)}},
		{"adaptive", []hedge.Option{hedge.Methods(method), hedge.AdaptiveDelay(0.95)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := hedge.New(bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			ic := h.UnaryClientInterceptor()
			ctx := context.Background()
			reply := &echopb.EchoResponse{}
			b.ReportAllocs()
			for b.Loop() {
				if err := ic(ctx, method, nil, reply, nil, invoker); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
