package hedge

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// previousAttemptsKey is the metadata key gRPC's hedging puts on hedged
// attempts: the number of attempts sent before this one.
const previousAttemptsKey = "grpc-previous-rpc-attempts"

// A Hedger hedges the unary calls of idempotent methods; see the package
// documentation. It holds the budget, the counters and the latencies, and
// is safe for concurrent use. One Hedger may serve several ClientConns,
// which then share its budget and latencies.
type Hedger struct {
	cfg     config
	budget  *budget
	windows sync.Map // method → *window, unless the delay is fixed

	calls, hedged, extra, wins, denied atomic.Int64
}

// Stats are a Hedger's counters since New.
type Stats struct {
	// Calls is the number of calls that could be hedged: calls of
	// idempotent methods, not disabled.
	Calls int64
	// Hedged is the number of calls that sent at least one extra attempt.
	Hedged int64
	// ExtraAttempts is the number of extra attempts sent: the extra load.
	ExtraAttempts int64
	// HedgeWins is the number of calls answered with success by an extra
	// attempt rather than the first.
	HedgeWins int64
	// BudgetDenied is the number of calls that would have sent an extra
	// attempt but found the budget empty.
	BudgetDenied int64
}

// New returns a Hedger configured by opts, or an error naming the first
// invalid option. With no option it hedges nothing: mark methods with
// Methods or MethodFunc, or calls with Idempotent.
func New(opts ...Option) (*Hedger, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.quantileSet:
	case cfg.delaySet:
		cfg.quantile = 0 // a fixed delay
	default:
		cfg.quantile = DefaultQuantile
	}
	return &Hedger{cfg: cfg, budget: newBudget(cfg.budget, cfg.burst)}, nil
}

// UnaryClientInterceptor returns the interceptor of a new Hedger configured
// by opts, for options fixed in the code: it panics if an option is
// invalid. Use New to get the error, or the Stats.
func UnaryClientInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	h, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return h.UnaryClientInterceptor()
}

// UnaryClientInterceptor returns the interceptor that hedges calls, for
// grpc.WithUnaryInterceptor or grpc.WithChainUnaryInterceptor. Put it
// outside (before) interceptors that should see every attempt, such as
// per-attempt metrics, and inside those that should see the call once.
func (h *Hedger) UnaryClientInterceptor() grpc.UnaryClientInterceptor { return h.intercept }

// Stats returns the counters. Each is read atomically, not all of them at
// once.
func (h *Hedger) Stats() Stats {
	return Stats{
		Calls:         h.calls.Load(),
		Hedged:        h.hedged.Load(),
		ExtraAttempts: h.extra.Load(),
		HedgeWins:     h.wins.Load(),
		BudgetDenied:  h.denied.Load(),
	}
}

// CurrentDelay returns the delay the next call of method would wait before
// its first hedge (WithDelay aside): the method's current quantile once it
// has enough samples, else Delay's; with a fixed delay, that.
func (h *Hedger) CurrentDelay(method string) time.Duration {
	if h.cfg.quantile == 0 {
		return h.cfg.delay
	}
	if w, ok := h.windows.Load(method); ok {
		if d, ok := w.(*window).quantile(); ok {
			return d
		}
	}
	return h.cfg.delay
}

func (h *Hedger) window(method string) *window {
	if w, ok := h.windows.Load(method); ok {
		return w.(*window)
	}
	w, _ := h.windows.LoadOrStore(method, newWindow(h.cfg.quantile))
	return w.(*window)
}

func (h *Hedger) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	pc := fromContext(ctx)
	if pc.disabled || !(pc.idempotent || h.cfg.hedges(method)) || !cloneable(reply) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	call := h.Begin(method)
	delay := call.Delay()
	if pc.hasDelay {
		delay = pc.delay
	}
	return h.hedge(ctx, call, method, req, reply, cc, invoker, opts, delay)
}

// attempt is one copy of a call.
type attempt struct {
	n       int // 0 for the first
	reply   any
	header  metadata.MD
	trailer metadata.MD
	peer    peer.Peer
	err     error
}

// callOpts is what hedge needs from the caller's call options.
type callOpts struct {
	headers  []*metadata.MD
	trailers []*metadata.MD
	peers    []*peer.Peer
	onFinish []func(error)
	first    []grpc.CallOption // the first attempt's: the caller's, less OnFinish
}

func parseCallOpts(opts []grpc.CallOption) callOpts {
	co := callOpts{first: opts}
	for i, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			co.headers = append(co.headers, o.HeaderAddr)
		case grpc.TrailerCallOption:
			co.trailers = append(co.trailers, o.TrailerAddr)
		case grpc.PeerCallOption:
			co.peers = append(co.peers, o.PeerAddr)
		case grpc.OnFinishCallOption:
			if co.onFinish == nil {
				co.first = append([]grpc.CallOption(nil), opts[:i]...)
			}
			co.onFinish = append(co.onFinish, o.OnFinish)
			continue
		}
		if co.onFinish != nil {
			co.first = append(co.first, o)
		}
	}
	return co
}

// optsFor returns the call options of an extra attempt: the caller's, with
// the header, trailer and peer written to the attempt and OnFinish left out
// (hedge calls it once, with the call's outcome).
func optsFor(opts []grpc.CallOption, a *attempt) []grpc.CallOption {
	out := make([]grpc.CallOption, 0, len(opts))
	for _, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption:
			o = grpc.Header(&a.header)
		case grpc.TrailerCallOption:
			o = grpc.Trailer(&a.trailer)
		case grpc.PeerCallOption:
			o = grpc.Peer(&a.peer)
		case grpc.OnFinishCallOption:
			continue
		}
		out = append(out, o)
	}
	return out
}

// hedge runs the attempts of one call. The first attempt writes straight
// into the caller's reply and call options; an extra attempt writes into
// its own, which are copied to the caller's if it wins. hedge returns once
// every attempt has returned: no attempt outlives the call, and nothing
// writes to the caller's reply after.
func (h *Hedger) hedge(ctx context.Context, call *Call, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts []grpc.CallOption, delay time.Duration) (err error) {
	co := parseCallOpts(opts)
	if co.onFinish != nil {
		defer func() {
			for _, f := range co.onFinish {
				f(err)
			}
		}()
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Read the reply's type now: once the first attempt runs, the reply is
	// its to write.
	newReply := replyMaker(reply)

	var (
		attempts    [maxMaxAttempts]attempt
		sent        int
		outstanding int
		results     = make(chan *attempt, h.cfg.maxAttempts) // never blocks a sender
	)
	send := func() {
		a := &attempts[sent]
		a.n = sent
		actx, opts := actx, co.first
		a.reply = reply
		if sent > 0 {
			actx = metadata.AppendToOutgoingContext(actx, previousAttemptsKey, strconv.Itoa(sent))
			opts = optsFor(opts, a)
			a.reply = newReply()
		}
		sent++
		outstanding++
		go func() {
			a.err = invoker(actx, method, req, a.reply, cc, opts...)
			results <- a
		}()
	}

	var (
		timer  *time.Timer
		timerC <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// arm starts the delay before the next hedge, unless there is no
	// attempt left to send or the caller's deadline would come first.
	arm := func() {
		timerC = nil
		if sent >= h.cfg.maxAttempts {
			return
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			return
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		timerC = timer.C
	}
	// tryHedge sends an extra attempt if one is left, the caller still
	// waits and the budget has a token.
	tryHedge := func() bool {
		if ctx.Err() != nil || !call.Extra() {
			return false
		}
		send()
		return true
	}

	send()
	arm()
	var winner, last *attempt
	for outstanding > 0 {
		select {
		case a := <-results:
			outstanding--
			if winner != nil {
				continue // a loser, cancelled
			}
			if a.err == nil || !h.cfg.isNonFatal(status.Code(a.err)) {
				winner = a
				call.End(a.n, a.err)
				cancel()
				timerC = nil
				continue
			}
			// A non-fatal failure: the next attempt goes at once, the one
			// after it a delay later.
			last = a
			call.Failed(a.n)
			if tryHedge() {
				arm()
			}
		case <-timerC:
			timerC = nil
			if tryHedge() {
				arm()
			}
		}
	}
	if winner == nil {
		winner = last // every attempt failed with a non-fatal code
	}
	if winner.n == 0 {
		return winner.err
	}
	if winner.err == nil {
		copyReply(reply, winner.reply)
	}
	for _, md := range co.headers {
		*md = winner.header
	}
	for _, md := range co.trailers {
		*md = winner.trailer
	}
	for _, p := range co.peers {
		*p = winner.peer
	}
	return winner.err
}

// cloneable reports whether hedge can make replies of reply's type for
// extra attempts: a proto message, or else a non-nil pointer.
func cloneable(reply any) bool {
	if _, ok := reply.(proto.Message); ok {
		return true
	}
	v := reflect.ValueOf(reply)
	return v.Kind() == reflect.Pointer && !v.IsNil()
}

// replyMaker returns a function that makes empty replies of reply's type.
func replyMaker(reply any) func() any {
	if m, ok := reply.(proto.Message); ok {
		mt := m.ProtoReflect().Type()
		return func() any { return mt.New().Interface() }
	}
	t := reflect.TypeOf(reply).Elem()
	return func() any { return reflect.New(t).Interface() }
}

// copyReply makes dst, the caller's reply, the winner's src.
func copyReply(dst, src any) {
	if m, ok := dst.(proto.Message); ok {
		proto.Reset(m)
		proto.Merge(m, src.(proto.Message))
		return
	}
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}
