package proxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/jsonconf"
)

// RetryPolicy retries the calls of an idempotent route that fail with one
// of RetryableStatusCodes, as gRPC's retryPolicy (gRFC A6) does: attempt n
// waits a random time in [0, min(InitialBackoff × BackoffMultiplier^(n-1),
// MaxBackoff)) after attempt n-1 failed, within the call's deadline. Zero
// fields take the defaults of DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 2 to 5. Default 3.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// InitialBackoff defaults to 50ms.
	InitialBackoff Duration `json:"initialBackoff,omitempty"`
	// MaxBackoff defaults to 1s.
	MaxBackoff Duration `json:"maxBackoff,omitempty"`
	// BackoffMultiplier defaults to 2.
	BackoffMultiplier float64 `json:"backoffMultiplier,omitempty"`
	// RetryableStatusCodes default to [UNAVAILABLE].
	RetryableStatusCodes []jsonconf.Code `json:"retryableStatusCodes,omitempty"`
}

// DefaultRetryPolicy is the retry policy of an idempotent route that sets
// neither retry nor hedge.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:          3,
		InitialBackoff:       Duration(50 * time.Millisecond),
		MaxBackoff:           Duration(time.Second),
		BackoffMultiplier:    2,
		RetryableStatusCodes: []jsonconf.Code{jsonconf.Code(codes.Unavailable)},
	}
}

// withDefaults fills p's zero fields from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	p.MaxAttempts = cmp.Or(p.MaxAttempts, d.MaxAttempts)
	p.InitialBackoff = cmp.Or(p.InitialBackoff, d.InitialBackoff)
	p.MaxBackoff = cmp.Or(p.MaxBackoff, d.MaxBackoff)
	p.BackoffMultiplier = cmp.Or(p.BackoffMultiplier, d.BackoffMultiplier)
	if len(p.RetryableStatusCodes) == 0 {
		p.RetryableStatusCodes = d.RetryableStatusCodes
	}
	return p
}

// problems lists what is wrong with p, each as "field: problem".
func (p RetryPolicy) problems() []string {
	var out []string
	if p.MaxAttempts != 0 && (p.MaxAttempts < 2 || p.MaxAttempts > 5) {
		out = append(out, fmt.Sprintf("maxAttempts: must be between 2 and 5 (the first attempt included), got %d", p.MaxAttempts))
	}
	if p.InitialBackoff < 0 {
		out = append(out, fmt.Sprintf("initialBackoff: negative (%v)", time.Duration(p.InitialBackoff)))
	}
	if p.MaxBackoff < 0 {
		out = append(out, fmt.Sprintf("maxBackoff: negative (%v)", time.Duration(p.MaxBackoff)))
	}
	if m := p.BackoffMultiplier; m != 0 && !(m >= 1 && m <= 100) { // NaN fails both
		out = append(out, fmt.Sprintf("backoffMultiplier: must be between 1 and 100, got %v", m))
	}
	for _, c := range p.RetryableStatusCodes {
		if codes.Code(c) == codes.OK {
			out = append(out, "retryableStatusCodes: OK is not a failure")
		}
	}
	return out
}

// HedgePolicy hedges the calls of an idempotent route with the hedge
// package: its JSON is hedge.ParseConfig's, less "methods" (the route says
// which calls), for example {hedgingDelay: 10ms, maxAttempts: 2}. An
// empty object takes hedge's defaults (an adaptive delay at the 95th
// percentile, 2 attempts, a 10% budget).
type HedgePolicy struct {
	raw json.RawMessage
	cfg *hedge.Config
}

// UnmarshalJSON parses the policy with hedge.ParseConfig.
func (h *HedgePolicy) UnmarshalJSON(b []byte) error {
	cfg, err := hedge.ParseConfig(b)
	if err != nil {
		return err
	}
	if len(cfg.Methods) > 0 {
		return errors.New("methods: not allowed here: the route's calls are hedged")
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, b); err != nil {
		return err
	}
	h.raw, h.cfg = raw.Bytes(), cfg
	return nil
}

// MarshalJSON returns the JSON it was parsed from.
func (h HedgePolicy) MarshalJSON() ([]byte, error) {
	if h.raw == nil {
		return []byte("{}"), nil
	}
	return h.raw, nil
}

// unaryPolicy is how an idempotent route forwards its calls: one request
// message, read whole, sent again by retries or hedges.
type unaryPolicy struct {
	retry  RetryPolicy   // with defaults; unused when hedging
	hedger *hedge.Hedger // nil: retry
}

// newUnaryPolicy returns the policy of route r, nil if r is not
// idempotent. A hedged route's Hedger comes from hs.forRoute.
func newUnaryPolicy(r Route, hs, old hedgers) (*unaryPolicy, error) {
	if !r.Idempotent {
		return nil, nil
	}
	if r.Hedge != nil {
		h, err := hs.forRoute(r, old)
		if err != nil {
			return nil, err
		}
		return &unaryPolicy{hedger: h}, nil
	}
	p := DefaultRetryPolicy()
	if r.Retry != nil {
		p = r.Retry.withDefaults()
	}
	return &unaryPolicy{retry: p}, nil
}

// newHedger returns the Hedger of a route's HedgePolicy, which hedges
// every call of the route.
func newHedger(p *HedgePolicy) (*hedge.Hedger, error) {
	cfg := hedge.DefaultConfig()
	if p.cfg != nil {
		cfg = p.cfg
	}
	return hedge.New(append(cfg.Options(), hedge.MethodFunc(func(string) bool { return true }))...)
}

// invoke sends the call's request req and writes its response to resp,
// retrying or hedging it.
func (u *unaryPolicy) invoke(ctx context.Context, cc *grpc.ClientConn, method string, req *sharedFrame, resp *frame, opts []grpc.CallOption) error {
	if u.hedger != nil {
		return u.hedger.UnaryClientInterceptor()(ctx, method, req, resp, cc, invokeUnary, opts...)
	}
	p := u.retry
	backoff := float64(p.InitialBackoff)
	for attempt := 1; ; attempt++ {
		actx := ctx
		if attempt > 1 {
			actx = metadata.AppendToOutgoingContext(ctx, "grpc-previous-rpc-attempts", strconv.Itoa(attempt-1))
		}
		resp.free()
		err := cc.Invoke(actx, method, req, resp, opts...)
		if err == nil || attempt == p.MaxAttempts || !slices.Contains(p.RetryableStatusCodes, jsonconf.Code(status.Code(err))) {
			return err
		}
		wait := time.Duration(rand.Float64() * min(backoff, float64(p.MaxBackoff)))
		backoff *= p.BackoffMultiplier
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err // the last attempt's status, not the deadline's
		case <-t.C:
		}
	}
}

func invokeUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
	return cc.Invoke(ctx, method, req, reply, opts...)
}

// sharedFrame is a request frame sent by more than one attempt: each send
// takes a reference on its buffers, which the transport drops once it has
// written them, and the call drops its own at the end.
type sharedFrame struct {
	data mem.BufferSlice
}

// forwardUnary runs a call of an idempotent route: it reads the client's
// one request message, sends it upstream with the route's retries or
// hedges, and answers with the winning attempt's header, message and
// trailer. A call that sends a second message is refused (UNIMPLEMENTED):
// such routes take unary and server-to-client-once calls only.
func (c *call) forwardUnary(ctx context.Context, md metadata.MD, opts []grpc.CallOption) error {
	var req frame
	if err := c.ss.RecvMsg(&req); err != nil {
		if err == io.EOF {
			return status.Errorf(codes.Unimplemented, "grpclb proxy: route %s takes unary calls, and this call sent no request", c.r.label)
		}
		return err
	}
	defer req.free()
	var extra frame
	if err := c.ss.RecvMsg(&extra); err == nil {
		extra.free()
		return status.Errorf(codes.Unimplemented, "grpclb proxy: route %s takes unary calls, and this call sent a second request", c.r.label)
	} else if err != io.EOF {
		return err
	}
	n := req.data.Len()
	c.recvBytes.Add(int64(n))
	c.r.metrics.recvBytes.Add(float64(n))

	var hdr, trl metadata.MD
	var resp frame
	defer resp.free()
	opts = append(opts, grpc.Header(&hdr), grpc.Trailer(&trl))
	err := c.r.unary.invoke(metadata.NewOutgoingContext(ctx, md), c.r.upstream.cc, c.method, &sharedFrame{req.data}, &resp, opts)
	if len(hdr) > 0 {
		stripHopHeaders(hdr)
		if serr := c.ss.SendHeader(hdr); serr != nil {
			return serr
		}
	}
	if len(trl) > 0 {
		stripHopHeaders(trl)
		c.ss.SetTrailer(trl)
	}
	if err != nil {
		return c.unreached(err)
	}
	c.sentBytes += int64(resp.data.Len())
	return c.ss.SendMsg(&resp)
}
