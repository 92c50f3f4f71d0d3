package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/proxy/internal/routing"
)

// Every upstream call is opened as a bidirectional stream: the proxy does
// not know a method's type, and a bidi stream carries all four kinds.
var anyStream = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// handle is the server's unknown-service handler: every call that is not
// one of the proxy's local services arrives here.
func (p *Proxy) handle(_ any, ss grpc.ServerStream) error {
	start := time.Now()
	method, _ := grpc.MethodFromServerStream(ss)
	if err := routing.CheckMethodPath(method); err != nil {
		p.metrics.unrouted.Inc()
		return status.Errorf(codes.Unimplemented, "grpclb proxy: %v", err)
	}
	r, st := p.route(method)
	if r == nil {
		if st.reflection || !isReflectionMethod(method) {
			if h := p.local.handler(method, p.stopping); h != nil {
				return h(ss)
			}
		}
		p.metrics.unrouted.Inc()
		return status.Errorf(codes.Unimplemented, "grpclb proxy: no route for method %s", method)
	}
	defer r.upstream.release()
	c := call{p: p, r: r, ss: ss, method: method, start: start}
	return c.forward()
}

// route finds the route of method and takes a reference on its upstream.
// A reload may close that upstream between the lookup and the reference:
// then the lookup is repeated in the new config.
func (p *Proxy) route(method string) (*route, *state) {
	for {
		st := p.state.Load()
		r, _ := st.routes.Match(method)
		if r == nil || r.upstream.acquire() {
			return r, st
		}
	}
}

func isReflectionMethod(method string) bool {
	return len(method) > 1 && isReflection(method[1:])
}

// call is one forwarded call.
type call struct {
	p      *Proxy
	r      *route
	ss     grpc.ServerStream
	method string
	start  time.Time

	cs        grpc.ClientStream
	cancel    context.CancelFunc // ends the upstream call
	opts      [3]grpc.CallOption // the upstream call's options, without an allocation
	reqFrame  frame              // the request side's message
	respFrame frame              // the response side's message
	reqDone   sync.WaitGroup     // the request side's end
	reqErr    error              // the request side's result, set before reqDone
	reqFailed atomic.Bool        // the request side ended the call
	peer      peer.Peer          // the upstream endpoint, filled when the upstream call ends
	recvBytes atomic.Int64       // request bytes (client → upstream)
	sentBytes int64              // response bytes (upstream → client)
}

// forward runs the call: requests are copied client → upstream on a
// goroutine, responses upstream → client on this one. It returns the
// status for the client: the upstream's, or the error that ended the
// client's side first.
func (c *call) forward() (err error) {
	rm := c.r.metrics
	rm.inFlight.Inc()
	defer func() { c.finish(err) }()

	ctx, cancel := context.WithCancel(c.ss.Context())
	if c.r.timeout > 0 {
		ctx, cancel = context.WithTimeout(c.ss.Context(), c.r.timeout) // the earlier deadline wins
	}
	defer cancel()
	md, _ := metadata.FromIncomingContext(ctx)
	opts := append(c.opts[:0], c.p.forceCodec, grpc.Peer(&c.peer))
	if sub := contentSubtype(md); sub != "" && sub != "proto" {
		opts = append(opts, grpc.CallContentSubtype(sub))
	}
	stripHopHeaders(md)
	addForwardedFor(c.ss.Context(), md)
	if c.r.unary != nil {
		return c.forwardUnary(ctx, md, opts)
	}
	cs, err := c.r.upstream.cc.NewStream(metadata.NewOutgoingContext(ctx, md), anyStream, c.method, opts...)
	if err != nil {
		return c.unreached(err)
	}

	c.cs, c.cancel = cs, cancel
	c.reqDone.Add(1)
	c.p.workers.start(c)

	ended, err := c.forwardResponses(cs)
	if ended && err != nil {
		err = c.unreached(err)
	}
	if !ended {
		// The client went away: end the upstream call too, and let it
		// finish so that c.peer is written before finish reads it.
		cancel()
		for cs.RecvMsg(&c.respFrame) == nil {
			c.respFrame.free()
		}
		return err
	}
	if err != nil && c.reqFailed.Load() {
		c.reqDone.Wait()
		return c.reqErr
	}
	return err
}

// unreached gives a call that reached no endpoint of its cluster (none
// READY: no endpoints, all failing, a resolver error) a status that names
// the cluster, UNAVAILABLE: no healthy upstream for cluster X. The
// channel's own message, which names upstream addresses or the resolver's
// problem, goes to the log, at most every logEvery per cluster. A status
// from an endpoint, even UNAVAILABLE, passes unchanged.
func (c *call) unreached(err error) error {
	if status.Code(err) != codes.Unavailable || c.peer.Addr != nil {
		return err
	}
	u, now, reason := c.r.upstream, time.Now(), status.Convert(err).Message()
	u.lastUnreached.Store(&Unreached{At: now, Reason: reason})
	if u.logDue(now) {
		c.p.log.Warn("proxy: no healthy upstream", "cluster", u.name, "method", c.method, "error", reason)
	}
	return status.Errorf(codes.Unavailable, "grpclb proxy: no healthy upstream for cluster %s", u.name)
}

// runRequests is the request side of the call, on its own goroutine.
func (c *call) runRequests() {
	defer c.reqDone.Done()
	if c.reqErr = c.forwardRequests(c.cs); c.reqErr != nil {
		// The client's side failed (a message too large, say): end the
		// upstream call; this error becomes the call's status.
		c.reqFailed.Store(true)
		c.cancel()
	}
}

// forwardRequests copies the client's messages upstream until the client
// half-closes, and returns the client side's error, if any. An upstream
// error ends the copy quietly: forwardResponses gets the upstream's status.
func (c *call) forwardRequests(cs grpc.ClientStream) error {
	f := &c.reqFrame
	for {
		if err := c.ss.RecvMsg(f); err != nil {
			if err == io.EOF {
				_ = cs.CloseSend()
				return nil
			}
			return err
		}
		n := f.data.Len()
		c.recvBytes.Add(int64(n))
		c.r.metrics.recvBytes.Add(float64(n))
		err := cs.SendMsg(f)
		f.free()
		if err != nil {
			return nil
		}
	}
}

// forwardResponses copies the upstream's header, messages and trailer to
// the client. It returns ended true and the upstream's status once the
// upstream call has ended, or ended false and the error that ended the
// client's side.
func (c *call) forwardResponses(cs grpc.ClientStream) (ended bool, err error) {
	hdr, err := cs.Header()
	if err != nil {
		return true, err
	}
	if len(hdr) > 0 {
		stripHopHeaders(hdr)
		if err := c.ss.SendHeader(hdr); err != nil {
			return false, err
		}
	}
	f := &c.respFrame
	for {
		if err := cs.RecvMsg(f); err != nil {
			if tr := cs.Trailer(); len(tr) > 0 {
				stripHopHeaders(tr)
				c.ss.SetTrailer(tr)
			}
			if err == io.EOF {
				return true, nil
			}
			return true, err
		}
		c.sentBytes += int64(f.data.Len())
		err := c.ss.SendMsg(f)
		f.free()
		if err != nil {
			return false, err
		}
	}
}

// finish records the call's metrics and access log.
func (c *call) finish(err error) {
	took := time.Since(c.start)
	code := status.Code(err)
	if errors.Is(err, context.Canceled) {
		code = codes.Canceled
	}
	rm := c.r.metrics
	rm.inFlight.Dec()
	rm.sentBytes.Add(float64(c.sentBytes))
	rm.endpoint(c.peer.Addr).done(code, took)
	if l := c.p.opts.AccessLog; l != nil && l.Enabled(context.Background(), slog.LevelInfo) {
		upstream := "none"
		if c.peer.Addr != nil {
			upstream = c.peer.Addr.String()
		}
		client := ""
		if pr, ok := peer.FromContext(c.ss.Context()); ok && pr.Addr != nil {
			client = pr.Addr.String()
		}
		l.LogAttrs(context.Background(), slog.LevelInfo, "rpc",
			slog.String("method", c.method),
			slog.String("route", c.r.label),
			slog.String("cluster", c.r.upstream.name),
			slog.String("upstream", upstream),
			slog.String("code", code.String()),
			slog.Duration("duration", took),
			slog.Int64("req_bytes", c.recvBytes.Load()),
			slog.Int64("resp_bytes", c.sentBytes),
			slog.String("client", client),
		)
	}
}
