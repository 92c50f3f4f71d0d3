package framerelay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
)

const preface = http2.ClientPreface

// dialTimeout bounds a backend connection's dial.
const dialTimeout = 2 * time.Second

// Relay relays gRPC calls (HTTP/2 streams over h2c) from its clients'
// connections to the backends of clusters: a cluster is a gRPC target,
// resolved by its registered resolver, and a load-balancing policy that
// picks the backend of each call. Backend connections are shared by all
// clients.
type Relay struct {
	// table is the routes, clusters and observer in use: Reload swaps it
	// (one Reload at a time: reloadMu).
	table    atomic.Pointer[table]
	reloadMu sync.Mutex
	// waiting counts the calls waiting for their cluster's policy to
	// offer a backend.
	waiting atomic.Int64
	// local is the relay's own services (grpc.health.v1); nil without
	// routes.
	local  atomic.Pointer[local]
	limits Limits
	budget *budget // Limits.MaxBufferedBytes, shared by every connection
	log    *slog.Logger
	// clientCount counts the client connections open; refusedCount
	// those closed as soon as accepted (Limits.MaxConnections).
	clientCount, refusedCount atomic.Int64

	mu       sync.Mutex
	lis      []net.Listener
	conns    map[*conn]struct{}
	clients  map[*clientConn]struct{}
	draining bool // Drain has begun: not ready
	refusing bool // Drain has sent GOAWAY to the clients: refuse new ones
	closed   bool
	// retired is the clusters a Reload took out of use, until their last
	// call ends.
	retired map[*cluster]struct{}
}

// Config is the clusters of a relay and the routes that choose among
// them.
type Config struct {
	// Clusters by name.
	Clusters map[string]Cluster
	// Routes send calls to clusters by method: the longest matching
	// prefix wins, and a call no route matches gets UNIMPLEMENTED.
	Routes []Route
	// Limits bound what clients may use.
	Limits Limits
	// Reflection makes the relay answer grpc.reflection (v1, v1alpha),
	// unless a route claims it, for its own services only.
	Reflection bool
	// Logger hears why calls found no healthy upstream (at most every
	// 10 s per cluster); nil discards it.
	Logger *slog.Logger
	// Observer hears of every routed call's start and end, for metrics;
	// nil observes nothing.
	Observer Observer
}

// Cluster is a set of backends and how calls are spread over them.
type Cluster struct {
	// Target is a gRPC target of any registered resolver:
	// "static:///10.0.0.1:50051,10.0.0.2:50051", "dns:///svc:50051".
	Target string
	// LBConfig is a service config's loadBalancingConfig list; its first
	// registered policy is used. Empty means `[{"round_robin":{}}]`.
	LBConfig string
	// TLS, when set, is how backends are dialled (h2 over TLS, ALPN
	// required; an empty ServerName is the dialled host); nil is h2c.
	TLS *tls.Config
	// Resolver, when set, resolves Target in place of the resolver
	// registered for its scheme.
	Resolver resolver.Builder
	// Keepalive, when its Time is set, pings backends whose connection
	// has calls but has been silent (see Keepalive).
	Keepalive Keepalive
	// Key, when set, names the cluster's whole spec (a hash of its config
	// and of the files behind TLS, say): Relay.Reload keeps a cluster
	// whose name and Key are unchanged, with its connections, and builds
	// anew every other.
	Key string
}

// Keepalive pings a backend on a connection that has calls in flight
// (or racing hedged attempts) and has read nothing for Time, and closes
// the connection if no frame comes within Timeout of the ping: its calls
// fail as on any lost connection (or are retried by their route), and its
// subchannel goes IDLE, so that a backend that vanished without closing
// its connections (a dead node, a partition) stops taking calls. A zero
// Time turns it off.
type Keepalive struct {
	Time, Timeout time.Duration
}

// Route sends the calls whose method starts with Prefix, "/pkg.Svc/" (a
// whole service) or "/pkg.Svc/Get" (methods starting with Get), to
// Cluster.
type Route struct {
	Prefix  string
	Cluster string
	// Timeout, when set, caps the calls' deadline: their grpc-timeout is
	// lowered to it (or set), and a call still in flight when it passes
	// is reset on its backend and ended with DEADLINE_EXCEEDED.
	Timeout time.Duration
	// Retry, when set, retries the route's calls, which must be unary
	// (see RetryPolicy).
	Retry *RetryPolicy
	// Hedge, when set, hedges the route's calls, which must be unary
	// (held whole, as Retry's are): an attempt unanswered after the
	// Hedger's delay is sent again to the backend the policy picks, and
	// the first to answer wins. Set one of Retry and Hedge.
	Hedge *hedge.Hedger
}

// New returns a relay that sends every call to the backends of target
// (any registered resolver: "static:///10.0.0.1:50051,10.0.0.2:50051",
// "dns:///svc:50051") balanced by the first registered policy of
// lbConfig, a service config's loadBalancingConfig list
// (`[{"round_robin":{}}]`).
func New(target, lbConfig string) (*Relay, error) {
	r := newRelay(Limits{}, nil)
	cl, err := newCluster(r, "default", Cluster{Target: target, LBConfig: lbConfig})
	if err != nil {
		return nil, err
	}
	r.table.Store(&table{all: cl, clusters: []*cluster{cl}, obs: noObserver{}})
	return r, nil
}

// NewRouted returns a relay that sends each call to the cluster its route
// names.
func NewRouted(cfg Config) (*Relay, error) {
	r := newRelay(cfg.Limits, cfg.Logger)
	t, _, err := r.newTable(cfg, nil)
	if err != nil {
		return nil, err
	}
	r.table.Store(t)
	if err := r.startLocal(cfg.Reflection); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func newRelay(limits Limits, log *slog.Logger) *Relay {
	r := &Relay{conns: map[*conn]struct{}{}, clients: map[*clientConn]struct{}{}, limits: limits.withDefaults(), log: log, retired: map[*cluster]struct{}{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.budget = newBudget(r.limits.MaxBufferedBytes)
	return r
}

// Serve accepts client connections on lis until Close: h2c, or HTTP/2
// over TLS when lis is a tls.Listener (its config must offer ALPN h2,
// which gRPC clients require). A client has 10 s to finish its TLS
// handshake and send the HTTP/2 preface.
func (r *Relay) Serve(lis net.Listener) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return net.ErrClosed
	}
	r.lis = append(r.lis, lis)
	r.mu.Unlock()
	for {
		nc, err := lis.Accept()
		if err != nil {
			return err
		}
		go r.serveClient(nc)
	}
}

// Close closes the listeners and every connection.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	for _, l := range r.lis {
		l.Close()
	}
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	r.closeClusters()
	if l := r.local.Load(); l != nil {
		l.stop()
	}
	for c := range conns {
		c.close()
	}
}

func (r *Relay) track(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c *conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *Relay) trackClient(c *clientConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.refusing {
		return false
	}
	r.conns[c.conn] = struct{}{}
	r.clients[c] = struct{}{}
	return true
}

func (r *Relay) untrackClient(c *clientConn) {
	r.mu.Lock()
	delete(r.conns, c.conn)
	delete(r.clients, c)
	r.mu.Unlock()
}

// link is a relayed call.
type link struct {
	toBackend *half // client → backend
	toClient  *half // backend → client
	client    *clientConn
	backend   *backendConn
	// responded: the backend has sent response headers.
	responded atomic.Bool
	// done tells the policy how the call ended (nil if it need not know).
	done  func(balancer.DoneInfo)
	ended atomic.Bool
	// wait is set if the call had to wait for a backend; nil if it was
	// connected at once.
	wait *pending
	// timer ends the call at its route's timeout (under client.lmu).
	timer *time.Timer
	// deadline is when the call's deadline, as sent to the backend,
	// passes; zero if the relay did not set it.
	deadline time.Time
	// route is the index of the call's route in Config.Routes, -1 for
	// the relay's own services (not observed); start is its arrival.
	route int
	start time.Time
	// cl is the cluster it was routed to (it counts the call: see
	// Relay.routeCall), obs the observer of the table it was routed by.
	cl  *cluster
	obs Observer
	// retry is set if its route retries, hedge if it hedges; swap then
	// serialises the changes of attempt (backend, halves, done) with the
	// paths that end the call from the client's side or a timer (reset,
	// abort).
	retry *retried
	hedge *hedging
	swap  sync.Mutex
	// method is its :path; reqBytes and respBytes count the bytes of
	// the messages relayed each way (see msgParser).
	method              string
	reqBytes, respBytes atomic.Int64
	// reqMsgs and respMsgs follow the messages each way, for the size
	// limits and counts (each used by one connection's reader only).
	reqMsgs, respMsgs msgParser
}

// finish tells the policy and the observer, once, how the call ended.
func (l *link) finish(err error) {
	if !l.ended.CompareAndSwap(false, true) {
		return
	}
	if l.done != nil {
		l.done(balancer.DoneInfo{Err: err, BytesSent: true, BytesReceived: l.responded.Load()})
	}
	l.commit()
	if l.cl != nil {
		l.cl.callEnded()
	}
	if l.route >= 0 {
		e := CallEnd{Route: l.route, Method: l.method, Client: l.client.remote, Code: status.Code(err),
			RequestBytes: l.reqBytes.Load(), ResponseBytes: l.respBytes.Load()}
		if l.backend != nil {
			e.Upstream = l.backend.addr
		}
		if !l.start.IsZero() {
			e.Took = time.Since(l.start)
		}
		l.obs.CallEnded(e)
	}
}

// resetErr is how a call the backend reset ends for its client, as a
// grpc-go client reads the reset's code.
func resetErr(code http2.ErrCode) error {
	c := codes.Internal
	switch code {
	case http2.ErrCodeCancel:
		c = codes.Canceled
	case http2.ErrCodeRefusedStream:
		c = codes.Unavailable
	}
	return status.Errorf(c, "framerelay: the backend reset the call (%v)", code)
}

// trailerErr is the error of a call that ended with these trailers.
func trailerErr(fields []hpack.HeaderField) error {
	code, msg := -1, ""
	for _, f := range fields {
		switch f.Name {
		case "grpc-status":
			if n, err := strconv.Atoi(f.Value); err == nil {
				code = n
			}
		case "grpc-message":
			msg = f.Value
		}
	}
	switch code {
	case 0:
		return nil
	case -1:
		return status.Error(codes.Internal, "framerelay: response without grpc-status")
	}
	return status.Error(codes.Code(code), msg)
}

type backendConn struct {
	*conn
	addr        string        // the backend's address
	maxResponse int64         // Limits.MaxResponseBytes
	nextID      uint32        // under conn.mu
	ready       chan struct{} // closed by the server's first SETTINGS
	// detach runs when the connection takes no new calls any more: on
	// the backend's GOAWAY and when the read loop ends (ended; maybe
	// both, in that order: both run on the read loop).
	detach func(bc *backendConn, ended bool)
	// ka is the cluster's Keepalive; with ka.Time set, lastRead is when
	// (unix ns) the read loop last read a frame (unstamped otherwise: a
	// clock read per frame for nothing).
	ka       Keepalive
	lastRead atomic.Int64

	smu      sync.Mutex
	streams  map[uint32]*link
	attempts map[uint32]*attempt // hedged calls' attempts until one wins
	gone     bool                // under smu: read loop ended, GOAWAY or drain: no new streams
	draining bool                // under smu: close once the last stream ends
	goneFlag atomic.Bool
}

// drain takes no new calls and closes the connection once the calls on
// it have ended (the policy shut its SubConn down).
func (bc *backendConn) drain() {
	bc.smu.Lock()
	bc.gone, bc.draining = true, true
	bc.goneFlag.Store(true)
	idle := bc.idleLocked()
	bc.smu.Unlock()
	if idle {
		bc.close()
	}
}

// lookup returns the call of backend stream id, forgetting it if end.
func (bc *backendConn) lookup(id uint32, end bool) *link {
	l, _ := bc.lookupOrAttempt(id, end)
	return l
}

// lookupOrAttempt is lookup, under the same lock also returning the
// racing attempt of a hedged call when stream id is one (and the call
// nil).
func (bc *backendConn) lookupOrAttempt(id uint32, end bool) (*link, *attempt) {
	bc.smu.Lock()
	l := bc.streams[id]
	if l == nil {
		a := bc.attempts[id]
		bc.smu.Unlock()
		return nil, a
	}
	if end {
		delete(bc.streams, id)
		if bc.draining && bc.idleLocked() {
			defer bc.close()
		}
	}
	bc.smu.Unlock()
	return l, nil
}

type clientConn struct {
	*conn
	r  *Relay
	ip string // the client's address, for x-forwarded-for
	// remote is the client's address and port, for the Observer.
	remote string
	idle   *time.Timer // under conn.mu: the next idle check
	aging  *time.Timer // under conn.mu: the connection's GOAWAY at its maximum age
	// lastID is the last stream the reader took; draining is set when
	// GOAWAY(lastID) is sent (both under conn.mu).
	lastID   uint32
	draining bool
	lmu      sync.Mutex
	live     map[uint32]*link // calls not ended by the backend, by client stream id
	// idleSince is when the last call ended (zero while calls are live).
	idleSince time.Time
}

func (c *clientConn) get(id uint32) *link {
	c.lmu.Lock()
	l := c.live[id]
	c.lmu.Unlock()
	return l
}

func (c *clientConn) forget(id uint32) {
	c.lmu.Lock()
	if l, ok := c.live[id]; ok {
		if l.timer != nil {
			l.timer.Stop()
		}
		delete(c.live, id)
		if len(c.live) == 0 {
			c.idleSince = time.Now()
		}
	}
	c.lmu.Unlock()
}

// grpcStatus is a trailers-only gRPC response.
func grpcStatus(code int, msg string) []hpack.HeaderField {
	return []hpack.HeaderField{
		{Name: ":status", Value: "200"},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "grpc-status", Value: fmt.Sprint(code)},
		{Name: "grpc-message", Value: msg},
	}
}

const unavailable = 14

// maxPickWait bounds how long a call waits for a ready backend.
const maxPickWait = 20 * time.Second

// grpcStatusOf is the trailers-only response of a call that could not be
// relayed: the policy's status, or UNAVAILABLE.
func grpcStatusOf(err error) []hpack.HeaderField {
	if st, ok := status.FromError(err); ok {
		return grpcStatus(int(st.Code()), st.Message())
	}
	return grpcStatus(unavailable, err.Error())
}

// pickInfo is what the policy sees of a call: its method and, as the
// outgoing metadata of its context, its headers (for policies that hash
// one). The metadata is built only if the policy looks at the context.
func pickInfo(fields []hpack.HeaderField) balancer.PickInfo {
	var method string
	for _, f := range fields {
		if f.Name == ":path" {
			method = f.Value
			break
		}
	}
	return balancer.PickInfo{FullMethodName: method, Ctx: &headerContext{Context: context.Background(), fields: fields}}
}

// headerContext is a pick's context. On its first Value lookup it builds
// the outgoing metadata of the call's headers, so that policies that never
// look (round_robin, p2c_ewma) cost no map per call.
type headerContext struct {
	context.Context
	fields []hpack.HeaderField

	once sync.Once
	md   context.Context
}

func (hc *headerContext) Value(key any) any {
	hc.once.Do(func() {
		md := make(metadata.MD, len(hc.fields))
		for _, f := range hc.fields {
			if !strings.HasPrefix(f.Name, ":") {
				md[f.Name] = append(md[f.Name], f.Value)
			}
		}
		hc.md = metadata.NewOutgoingContext(hc.Context, md)
	})
	return hc.md.Value(key)
}

func (r *Relay) serveClient(nc net.Conn) {
	defer r.clientCount.Add(-1)
	if r.clientCount.Add(1) > int64(r.limits.MaxConnections) {
		r.refusedCount.Add(1)
		nc.Close()
		return
	}
	buf := make([]byte, len(preface))
	nc.SetReadDeadline(time.Now().Add(r.limits.HandshakeTimeout))
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != preface {
		nc.Close()
		return
	}
	nc.SetReadDeadline(time.Time{})
	c := &clientConn{conn: newConn(nc, r.budget), r: r, ip: hostOf(nc.RemoteAddr()), remote: nc.RemoteAddr().String(), live: map[uint32]*link{}}
	c.rfr.MaxHeaderListSize = r.limits.MaxHeaderListBytes
	if !r.trackClient(c) {
		c.close()
		return
	}
	defer r.untrackClient(c)
	defer c.shutdown()
	c.start(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: r.limits.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: r.limits.MaxHeaderListBytes},
	)
	c.watchIdle(r.limits.IdleTimeout)
	c.ageOut(r.limits.MaxConnectionAge, r.limits.MaxConnectionAgeGrace)
	var lastID uint32
	for {
		f, err := c.rfr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) { // a bad header block: refuse that call
				c.mu.Lock()
				c.fr.WriteRSTStream(se.StreamID, se.Code)
				c.unlock()
				continue
			}
			c.goAway(err)
			return
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID <= lastID || f.StreamID%2 == 0 {
				if c.get(f.StreamID) == nil {
					c.goAway(http2.ConnectionError(http2.ErrCodeProtocol))
					return
				}
				continue // client trailers: gRPC clients send none
			}
			lastID = f.StreamID
			if !c.takeStream(f.StreamID) {
				c.refuse(f.StreamID) // after GOAWAY: the client retries it elsewhere
				continue
			}
			r.open(c, f)
		case *http2.DataFrame:
			if !c.data(f) {
				return
			}
		case *http2.RSTStreamFrame:
			if l := c.get(f.StreamID); l != nil {
				c.forget(f.StreamID)
				l.reset(f.ErrCode)
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				giveAll(c.settings(f))
			}
		case *http2.WindowUpdateFrame:
			giveAll(c.windowUpdate(f.StreamID, f.Increment))
		case *http2.PingFrame:
			if !f.IsAck() {
				c.mu.Lock()
				c.fr.WritePing(true, f.Data)
				c.unlock()
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

// open starts a call: routes it, picks a backend and sends it the
// client's headers. When the policy has no backend to offer yet, the call
// waits for one off the connection's read loop (see wait).
func (r *Relay) open(c *clientConn, f *http2.MetaHeadersFrame) {
	cid := f.StreamID
	if f.Truncated {
		c.mu.Lock()
		c.headerFrames(cid, grpcStatus(int(codes.ResourceExhausted), fmt.Sprintf("framerelay: request headers over %d bytes", r.limits.MaxHeaderListBytes)), true)
		c.unlock()
		return
	}
	fields := requestHeaders(f.Fields, c.ip)
	info := pickInfo(fields)
	t, rt, err := r.routeCall(info.FullMethodName)
	if err != nil {
		t.obs.Unrouted()
	} else {
		var start time.Time
		if t.timed {
			start = time.Now()
		}
		if rt.index >= 0 {
			t.obs.CallStarted(rt.index)
		}
		cl := rt.cl
		var deadline time.Time
		if rt.timeout > 0 {
			var d time.Duration
			fields, d = capTimeout(fields, rt.timeout)
			deadline = time.Now().Add(d)
		}
		l := &link{client: c, deadline: deadline, route: rt.index, start: start, cl: cl, obs: t.obs, method: info.FullMethodName}
		if rt.retry != nil || rt.hedge != nil {
			r.waitWhole(l, rt, cid, info, fields, f.StreamEnded())
			return
		}
		var bc *backendConn
		var done func(balancer.DoneInfo)
		if bc, done, err = cl.tryPick(info); err == nil {
			if !c.register(cid, l, r.limits.MaxConcurrentStreams) {
				l.done = done
				l.finish(errRefused)
				c.refuse(cid)
				return
			}
			r.connect(l, cid, fields, f.StreamEnded(), bc, done, nil)
			c.expireAfter(l, cid, rt.timeout)
			return
		}
		if errors.Is(err, balancer.ErrNoSubConnAvailable) {
			l.wait = &pending{stop: make(chan struct{})}
			r.wait(l, cl, cid, info, fields, f.StreamEnded(), rt.timeout)
			return
		}
		err = cl.unreached(err)
		l.finish(err)
	}
	c.mu.Lock()
	c.headerFrames(cid, grpcStatusOf(err), true)
	c.unlock()
}

// connect sends the call l, client stream cid, to backend connection bc:
// its headers, then the data held while it waited for a backend.
func (r *Relay) connect(l *link, cid uint32, fields []hpack.HeaderField, end bool, bc *backendConn, done func(balancer.DoneInfo), held *pending) {
	c := l.client
	l.backend, l.done = bc, done
	c.mu.Lock()
	l.toClient = c.openLocked(cid, bc.conn, 0)
	c.mu.Unlock()

	var grants []grant
	bc.mu.Lock()
	bid := bc.nextID
	bc.nextID += 2
	l.toClient.fromID = bid
	l.toBackend = bc.openLocked(bid, c.conn, cid)
	if end {
		l.toBackend.fromOpen.Store(false)
	}
	bc.smu.Lock()
	gone := bc.gone
	if !gone {
		bc.streams[bid] = l
	}
	bc.smu.Unlock()
	if !gone {
		l.toBackend.writeHeadersLocked(fields, end)
		if held != nil {
			grants = held.sendLocked(l.toBackend)
		}
	}
	bc.unlock()
	giveAll(grants)
	if gone {
		// Lost the race with the connection's GOAWAY or end: nothing was
		// sent, so the client is told so (REFUSED_STREAM), and gRPC
		// clients send the call again at once (transparent retry).
		l.finish(status.Error(codes.Unavailable, "framerelay: backend connection went away before the call was sent"))
		if held != nil {
			c.giveConn(held.releaseLocked()) // the held data is dropped: its window goes back
		}
		c.forget(cid)
		l.resetClient(http2.ErrCodeRefusedStream)
	}
}

// data relays a client DATA frame; false ends the connection.
func (c *clientConn) data(f *http2.DataFrame) bool {
	if !c.takeWindow(f) {
		return false
	}
	l := c.get(f.StreamID)
	if l == nil {
		c.giveConn(int64(f.Length))
		return true
	}
	if size := l.reqMsgs.feed(f.Data(), c.r.limits.MaxRequestBytes, &l.reqBytes); size > 0 {
		c.requestTooLarge(l, f, size, c.r.limits.MaxRequestBytes)
		return true
	}
	if w := l.wait; w != nil {
		if w.keep {
			return c.holdWhole(l, w, f)
		}
		w.mu.Lock()
		if !w.connected {
			ok := w.hold(f)
			w.mu.Unlock()
			if !ok {
				c.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
			}
			return ok
		}
		w.mu.Unlock()
	}
	return forward(c.conn, l.toBackend, f)
}

// takeWindow charges DATA frame f to c's connection window (growing it
// when the peer is using most of it); false (and a GOAWAY) if the peer
// overran it.
func (c *conn) takeWindow(f *http2.DataFrame) bool {
	left := c.recvWin.Add(-int64(f.Length))
	if left < 0 {
		c.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	if left < c.growAt.Load() {
		c.grow()
	}
	return true
}

// forward writes the payload of DATA frame f, read on from, to h, the
// other half of its call, charging f to h's stream window; false (and a
// GOAWAY on from) if the peer overran that window. Window is given back
// to the peer as h's bytes are written on; padding at once.
func forward(from *conn, h *half, f *http2.DataFrame) bool {
	size := int64(f.Length)
	if h.recvWin.Add(-size) < 0 {
		from.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	end := f.StreamEnded()
	if end {
		h.fromOpen.Store(false)
	}
	data := f.Data()
	to := h.c
	to.mu.Lock()
	n := len(data)
	if !h.done {
		n = h.writeDataLocked(data, end, false)
	}
	to.unlock()
	if g := n + int(size) - len(data); g > 0 {
		give(h, g)
	}
	return true
}

// giveConn gives back n bytes of the connection window at once (data of
// a stream the relay no longer relays).
func (c *conn) giveConn(n int64) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	woken := c.cameBackLocked(n)
	c.grantLocked(false)
	c.unlock()
	wake(woken)
}

// reset ends a call the client reset: the backend stream is reset too.
func (l *link) reset(code http2.ErrCode) {
	if l.swaps() {
		l.swap.Lock()
		defer l.swap.Unlock()
	}
	if w := l.wait; w != nil && w.giveUp(l.client) {
		err := status.Error(codes.Canceled, "framerelay: the client reset the call")
		l.stopRaceLocked(err)
		l.finish(err)
		return // it had no backend yet
	}
	bc := l.backend
	open := bc.lookup(l.toBackend.id, true) != nil // the backend has not ended it
	if open {
		l.finish(status.Error(codes.Canceled, "framerelay: the client reset the call"))
	}
	l.endBackend(open, code)
	c := l.client
	c.mu.Lock()
	owedBackend := l.toClient.dropLocked()
	if !l.toClient.done {
		l.toClient.finishLocked()
	}
	c.mu.Unlock()
	bc.giveConn(owedBackend)
}

// endBackend ends call l's stream on its backend: a reset with code if
// rst (the backend has not ended it), and the request data queued for it
// dropped, its window given back to the client.
func (l *link) endBackend(rst bool, code http2.ErrCode) {
	bc, h := l.backend, l.toBackend
	bc.mu.Lock()
	if rst {
		bc.fr.WriteRSTStream(h.id, code)
	}
	dropped := h.dropLocked()
	if !h.done {
		h.finishLocked()
	}
	bc.unlock()
	l.client.giveConn(dropped)
}

// resetClient resets call l's stream on its client with code, dropping
// the response data queued for it (its window goes back to the backend).
func (l *link) resetClient(code http2.ErrCode) {
	l.endClientWith(func(c *conn, id uint32) { c.fr.WriteRSTStream(id, code) })
}

// endClientWith ends call l's stream on its client, unless it has ended,
// by write (an RST_STREAM, or trailers: under the connection's lock),
// dropping the response data queued for it (its window goes back to the
// backend).
func (l *link) endClientWith(write func(c *conn, id uint32)) {
	h := l.toClient
	c := h.c
	var dropped int64
	c.mu.Lock()
	if !h.done {
		dropped = h.dropLocked()
		write(c, h.id)
		h.finishLocked()
	}
	c.unlock()
	h.from.giveConn(dropped)
}

// shutdown resets, on their backends, the calls of a client connection
// that ended.
func (c *clientConn) shutdown() {
	c.close()
	c.lmu.Lock()
	live := c.live
	c.live = map[uint32]*link{}
	for _, l := range live {
		if l.timer != nil {
			l.timer.Stop()
		}
	}
	c.lmu.Unlock()
	c.mu.Lock()
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.aging != nil {
		c.aging.Stop()
	}
	c.mu.Unlock()
	for _, l := range live {
		l.reset(http2.ErrCodeCancel)
	}
}

// goAway tells the peer why the relay closes the connection, and closes it.
func (c *conn) goAway(err error) {
	code := http2.ErrCodeNo
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	}
	c.mu.Lock()
	if !c.closed {
		c.fr.WriteGoAway(0, code, nil)
		c.bw.Flush()
	}
	c.mu.Unlock()
	c.close()
}

func (bc *backendConn) readLoop(r *Relay) {
	defer r.untrack(bc.conn)
	defer bc.shutdown()
	settled := false
	for {
		f, err := bc.rfr.ReadFrame()
		if bc.ka.Time > 0 {
			bc.lastRead.Store(time.Now().UnixNano())
		}
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if a := bc.takeAttempt(se.StreamID); a != nil {
					r.attemptFailed(a, status.Errorf(codes.Internal, "framerelay: bad response headers from the backend: %v", se))
				}
				if l := bc.lookup(se.StreamID, true); l != nil {
					l.client.forget(l.toClient.id)
					l.finish(status.Errorf(codes.Internal, "framerelay: bad response headers from the backend: %v", se))
					l.fail(http2.ErrCodeInternal, "framerelay: bad response headers from the backend")
				}
				bc.mu.Lock()
				bc.fr.WriteRSTStream(se.StreamID, se.Code)
				bc.unlock()
				continue
			}
			return
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.Truncated {
				if a := bc.takeAttempt(f.StreamID); a != nil {
					r.attemptFailed(a, status.Errorf(codes.Internal, "framerelay: response headers over %d bytes", r.limits.MaxHeaderListBytes))
				}
				if l := bc.lookup(f.StreamID, true); l != nil {
					l.client.forget(l.toClient.id)
					msg := fmt.Sprintf("framerelay: response headers over %d bytes", r.limits.MaxHeaderListBytes)
					code := codes.Unavailable // what fail sends
					if l.responded.Load() {
						code = codes.Internal
					}
					l.finish(status.Error(code, msg))
					l.fail(http2.ErrCodeInternal, msg)
				}
				bc.mu.Lock()
				bc.fr.WriteRSTStream(f.StreamID, http2.ErrCodeCancel)
				bc.unlock()
				continue
			}
			end := f.StreamEnded()
			// One lookup for a call's headers; a hedged call's attempt that
			// wins becomes the call, found by a second.
			l, a := bc.lookupOrAttempt(f.StreamID, end)
			if a != nil {
				if !bc.answered(r, a, f.Fields, end) {
					continue
				}
				l = bc.lookup(f.StreamID, end)
			}
			if l == nil {
				continue
			}
			if l.swaps() && !l.responded.Load() {
				if end && r.retryLater(l, status.Code(trailerErr(f.Fields))) {
					continue
				}
				l.commit()
			}
			if end {
				l.client.forget(l.toClient.id)
				l.finish(trailerErr(f.Fields))
			}
			l.responded.Store(true)
			h := l.toClient
			c := h.c
			c.mu.Lock()
			if !h.done {
				h.writeHeadersLocked(f.Fields, end)
			}
			c.unlock()
		case *http2.DataFrame:
			if !bc.data(f) {
				return
			}
		case *http2.RSTStreamFrame:
			if a := bc.takeAttempt(f.StreamID); a != nil {
				r.attemptFailed(a, resetErr(f.ErrCode))
				continue
			}
			if l := bc.lookup(f.StreamID, true); l != nil {
				if f.ErrCode == http2.ErrCodeRefusedStream && r.retryLater(l, codes.Unavailable) {
					continue
				}
				l.client.forget(l.toClient.id)
				if f.ErrCode == http2.ErrCodeCancel && l.pastDeadline() {
					// The backend gave up at the deadline the relay sent
					// it: what the client's own deadline would have said.
					err := status.Error(codes.DeadlineExceeded, "framerelay: the backend's deadline passed")
					l.finish(err)
					l.endClient(err)
					continue
				}
				l.finish(resetErr(f.ErrCode))
				l.resetClient(f.ErrCode)
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				giveAll(bc.settings(f))
				if !settled {
					settled = true
					close(bc.ready)
				}
			}
		case *http2.WindowUpdateFrame:
			giveAll(bc.windowUpdate(f.StreamID, f.Increment))
		case *http2.PingFrame:
			if !f.IsAck() {
				bc.mu.Lock()
				bc.fr.WritePing(true, f.Data)
				bc.unlock()
			}
		case *http2.GoAwayFrame:
			bc.goneAway(f.LastStreamID)
		}
	}
}

// data relays a backend DATA frame; false ends the connection.
func (bc *backendConn) data(f *http2.DataFrame) bool {
	if !bc.takeWindow(f) {
		return false
	}
	end := f.StreamEnded()
	l := bc.lookup(f.StreamID, end)
	if l == nil {
		bc.giveConn(int64(f.Length))
		return true
	}
	if size := l.respMsgs.feed(f.Data(), bc.maxResponse, &l.respBytes); size > 0 {
		bc.responseTooLarge(l, f, size, bc.maxResponse)
		return true
	}
	if end {
		l.client.forget(l.toClient.id)
		l.finish(status.Error(codes.Internal, "framerelay: response ended without trailers"))
	}
	return forward(bc.conn, l.toClient, f)
}

// goneAway stops new calls on the connection; calls above lastID were
// not processed and are refused to their clients, which may retry them.
func (bc *backendConn) goneAway(lastID uint32) {
	bc.smu.Lock()
	// Closed once its last call ends: its subchannel dials a new
	// connection for new calls at once (detach), as grpc-go's does.
	bc.gone, bc.draining = true, true
	bc.goneFlag.Store(true)
	var refused []*link
	for id, l := range bc.streams {
		if id > lastID {
			refused = append(refused, l)
			delete(bc.streams, id)
		}
	}
	var unsent []*attempt
	for id, a := range bc.attempts {
		if id > lastID {
			unsent = append(unsent, a)
			delete(bc.attempts, id)
		}
	}
	idle := bc.idleLocked()
	bc.smu.Unlock()
	if bc.detach != nil {
		bc.detach(bc, false)
	}
	const why = "framerelay: refused by the backend's GOAWAY"
	for _, a := range unsent {
		a.l.client.r.attemptFailed(a, status.Error(codes.Unavailable, why))
	}
	for _, l := range refused {
		if lostUnlessRetried(l, why) {
			l.resetClient(http2.ErrCodeRefusedStream)
		}
	}
	if idle {
		bc.close()
	}
}

// lostUnlessRetried ends l's call, which its backend connection lost, with
// UNAVAILABLE why, unless its route retries it on another connection; it
// reports whether the call ended (the caller then ends the client's
// stream).
func lostUnlessRetried(l *link, why string) bool {
	if l.client.r.retryLater(l, codes.Unavailable) {
		return false
	}
	l.client.forget(l.toClient.id)
	l.finish(status.Error(codes.Unavailable, why))
	return true
}

// shutdown ends the calls of a backend connection that closed: a call
// without a response yet gets UNAVAILABLE, one with a response a reset.
func (bc *backendConn) shutdown() {
	bc.close()
	bc.smu.Lock()
	bc.gone = true
	bc.goneFlag.Store(true)
	streams, attempts := bc.streams, bc.attempts
	bc.streams, bc.attempts = map[uint32]*link{}, map[uint32]*attempt{}
	bc.smu.Unlock()
	const why = "framerelay: backend connection closed"
	for _, a := range attempts {
		a.l.client.r.attemptFailed(a, status.Error(codes.Unavailable, why))
	}
	for _, l := range streams {
		if !lostUnlessRetried(l, why) {
			continue
		}
		bc.mu.Lock()
		dropped := l.toBackend.dropLocked() // never to be sent
		bc.mu.Unlock()
		l.client.giveConn(dropped)
		l.fail(http2.ErrCodeInternal, why)
	}
	if bc.detach != nil {
		bc.detach(bc, true)
	}
}

// fail ends a call on the client's side: UNAVAILABLE if the backend has
// not answered yet, else a reset with code.
func (l *link) fail(code http2.ErrCode, msg string) {
	if l.responded.Load() {
		l.resetClient(code)
		return
	}
	l.endClientWith(func(c *conn, id uint32) { c.headerFrames(id, grpcStatus(unavailable, msg), true) })
}
