package framerelay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const preface = http2.ClientPreface

// dialTimeout bounds a backend connection's dial.
const dialTimeout = 2 * time.Second

// Relay relays gRPC calls (HTTP/2 streams over h2c) from its clients'
// connections to a fixed list of backends, each call to the next backend
// round robin, over one connection per backend shared by all clients.
type Relay struct {
	backends []*backend
	next     atomic.Uint32

	mu     sync.Mutex
	lis    []net.Listener
	conns  map[*conn]struct{}
	closed bool
}

// New returns a relay to the backends' h2c addresses.
func New(addrs []string) (*Relay, error) {
	if len(addrs) == 0 {
		return nil, errors.New("framerelay: no backends")
	}
	r := &Relay{conns: map[*conn]struct{}{}}
	for _, a := range addrs {
		r.backends = append(r.backends, &backend{addr: a})
	}
	return r, nil
}

// Serve accepts client connections on lis until Close.
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

// link is a relayed call.
type link struct {
	toBackend *half // client → backend
	toClient  *half // backend → client
	client    *clientConn
	backend   *backendConn
	// responded: the backend has sent response headers.
	responded atomic.Bool
}

// backend is one backend address and its current connection.
type backend struct {
	addr string
	mu   sync.Mutex
	bc   *backendConn
}

type backendConn struct {
	*conn
	nextID uint32 // under conn.mu

	smu     sync.Mutex
	streams map[uint32]*link
	gone    bool // under smu: read loop ended, or GOAWAY: no new streams
}

// conn returns the backend's connection, dialling one if it has none
// that takes new streams.
func (b *backend) conn(r *Relay) (*backendConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bc := b.bc; bc != nil {
		bc.smu.Lock()
		gone := bc.gone
		bc.smu.Unlock()
		if !gone {
			return bc, nil
		}
	}
	nc, err := net.DialTimeout("tcp", b.addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(nc, preface); err != nil {
		nc.Close()
		return nil, err
	}
	bc := &backendConn{conn: newConn(nc), nextID: 1, streams: map[uint32]*link{}}
	if !r.track(bc.conn) {
		bc.close()
		return nil, net.ErrClosed
	}
	bc.start(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	b.bc = bc
	go bc.readLoop(r)
	return bc, nil
}

// pick returns a connection for a new call: the next backend round robin
// whose connection takes streams or can be dialled.
func (r *Relay) pick() (*backendConn, error) {
	var errs []error
	start := r.next.Add(1)
	for i := range len(r.backends) {
		b := r.backends[(int(start)+i)%len(r.backends)]
		bc, err := b.conn(r)
		if err == nil {
			return bc, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b.addr, err))
	}
	return nil, errors.Join(errs...)
}

// lookup returns the call of backend stream id, forgetting it if end.
func (bc *backendConn) lookup(id uint32, end bool) *link {
	bc.smu.Lock()
	l := bc.streams[id]
	if end && l != nil {
		delete(bc.streams, id)
	}
	bc.smu.Unlock()
	return l
}

type clientConn struct {
	*conn
	lmu  sync.Mutex
	live map[uint32]*link // calls not ended by the backend, by client stream id
}

func (c *clientConn) get(id uint32) *link {
	c.lmu.Lock()
	l := c.live[id]
	c.lmu.Unlock()
	return l
}

func (c *clientConn) forget(id uint32) {
	c.lmu.Lock()
	delete(c.live, id)
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

func (r *Relay) serveClient(nc net.Conn) {
	buf := make([]byte, len(preface))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != preface {
		nc.Close()
		return
	}
	nc.SetReadDeadline(time.Time{})
	c := &clientConn{conn: newConn(nc), live: map[uint32]*link{}}
	if !r.track(c.conn) {
		c.close()
		return
	}
	defer r.untrack(c.conn)
	defer c.shutdown()
	c.start(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1000})
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

// open starts a call: picks a backend and sends it the client's headers.
func (r *Relay) open(c *clientConn, f *http2.MetaHeadersFrame) {
	cid := f.StreamID
	bc, err := r.pick()
	if err != nil {
		c.mu.Lock()
		c.headerFrames(cid, grpcStatus(unavailable, "framerelay: no backend: "+err.Error()), true)
		c.unlock()
		return
	}
	l := &link{client: c, backend: bc}
	c.mu.Lock()
	l.toClient = c.openLocked(cid, bc.conn, 0)
	c.mu.Unlock()
	end := f.StreamEnded()
	c.lmu.Lock()
	c.live[cid] = l
	c.lmu.Unlock()

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
		l.toBackend.writeHeadersLocked(f.Fields, end)
	}
	bc.unlock()
	if gone { // lost the race with the connection's end: not sent
		c.forget(cid)
		c.mu.Lock()
		if !l.toClient.done {
			l.toClient.queue = nil
			c.headerFrames(cid, grpcStatus(unavailable, "framerelay: backend connection closed"), true)
			l.toClient.finishLocked()
		}
		c.unlock()
	}
}

// data relays a client DATA frame; false ends the connection.
func (c *clientConn) data(f *http2.DataFrame) bool {
	size := int64(f.Length)
	if c.recvWin.Add(-size) < 0 {
		c.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	l := c.get(f.StreamID)
	if l == nil {
		c.giveConn(size)
		return true
	}
	h := l.toBackend
	if h.recvWin.Add(-size) < 0 {
		c.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	end := f.StreamEnded()
	if end {
		h.fromOpen.Store(false)
	}
	data := f.Data()
	bc := h.c
	bc.mu.Lock()
	n := len(data)
	if !h.done {
		n = h.writeDataLocked(data, end)
	}
	bc.unlock()
	if g := n + int(size) - len(data); g > 0 { // padding is given back at once
		give(h, g)
	}
	return true
}

// giveConn gives back n bytes of the connection window at once (data of
// a stream the relay no longer relays).
func (c *conn) giveConn(n int64) {
	c.mu.Lock()
	c.owed += n
	if c.owed >= connGrant {
		c.fr.WriteWindowUpdate(0, uint32(c.owed))
		c.recvWin.Add(c.owed)
		c.owed = 0
	}
	c.unlock()
}

// reset ends a call the client reset: the backend stream is reset too.
func (l *link) reset(code http2.ErrCode) {
	bc := l.backend
	open := bc.lookup(l.toBackend.id, true) != nil // the backend has not ended it
	bc.mu.Lock()
	if open {
		bc.fr.WriteRSTStream(l.toBackend.id, code)
	}
	l.toBackend.queue = nil
	if !l.toBackend.done {
		l.toBackend.finishLocked()
	}
	bc.unlock()
	c := l.client
	c.mu.Lock()
	l.toClient.queue = nil
	if !l.toClient.done {
		l.toClient.finishLocked()
	}
	c.mu.Unlock()
}

// shutdown resets, on their backends, the calls of a client connection
// that ended.
func (c *clientConn) shutdown() {
	c.close()
	c.lmu.Lock()
	live := c.live
	c.live = map[uint32]*link{}
	c.lmu.Unlock()
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
	for {
		f, err := bc.rfr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if l := bc.lookup(se.StreamID, true); l != nil {
					l.client.forget(l.toClient.id)
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
			end := f.StreamEnded()
			l := bc.lookup(f.StreamID, end)
			if l == nil {
				continue
			}
			if end {
				l.client.forget(l.toClient.id)
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
			if l := bc.lookup(f.StreamID, true); l != nil {
				l.client.forget(l.toClient.id)
				h := l.toClient
				c := h.c
				c.mu.Lock()
				if !h.done {
					h.queue = nil
					c.fr.WriteRSTStream(h.id, f.ErrCode)
					h.finishLocked()
				}
				c.unlock()
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				giveAll(bc.settings(f))
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
	size := int64(f.Length)
	if bc.recvWin.Add(-size) < 0 {
		bc.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	end := f.StreamEnded()
	l := bc.lookup(f.StreamID, end)
	if l == nil {
		bc.giveConn(size)
		return true
	}
	if end {
		l.client.forget(l.toClient.id)
	}
	h := l.toClient
	if h.recvWin.Add(-size) < 0 {
		bc.goAway(http2.ConnectionError(http2.ErrCodeFlowControl))
		return false
	}
	if end {
		h.fromOpen.Store(false)
	}
	data := f.Data()
	c := h.c
	c.mu.Lock()
	n := len(data)
	if !h.done {
		n = h.writeDataLocked(data, end)
	}
	c.unlock()
	if g := n + int(size) - len(data); g > 0 {
		give(h, g)
	}
	return true
}

// goneAway stops new calls on the connection; calls above lastID were
// not processed and are refused to their clients, which may retry them.
func (bc *backendConn) goneAway(lastID uint32) {
	bc.smu.Lock()
	bc.gone = true
	var refused []*link
	for id, l := range bc.streams {
		if id > lastID {
			refused = append(refused, l)
			delete(bc.streams, id)
		}
	}
	bc.smu.Unlock()
	for _, l := range refused {
		l.client.forget(l.toClient.id)
		h := l.toClient
		c := h.c
		c.mu.Lock()
		if !h.done {
			h.queue = nil
			c.fr.WriteRSTStream(h.id, http2.ErrCodeRefusedStream)
			h.finishLocked()
		}
		c.unlock()
	}
}

// shutdown ends the calls of a backend connection that closed: a call
// without a response yet gets UNAVAILABLE, one with a response a reset.
func (bc *backendConn) shutdown() {
	bc.close()
	bc.smu.Lock()
	bc.gone = true
	streams := bc.streams
	bc.streams = map[uint32]*link{}
	bc.smu.Unlock()
	for _, l := range streams {
		l.client.forget(l.toClient.id)
		l.fail(http2.ErrCodeInternal, "framerelay: backend connection closed")
	}
}

// fail ends a call on the client's side: UNAVAILABLE if the backend has
// not answered yet, else a reset with code.
func (l *link) fail(code http2.ErrCode, msg string) {
	h := l.toClient
	c := h.c
	c.mu.Lock()
	if !h.done {
		h.queue = nil
		if l.responded.Load() {
			c.fr.WriteRSTStream(h.id, code)
		} else {
			c.headerFrames(h.id, grpcStatus(unavailable, msg), true)
		}
		h.finishLocked()
	}
	c.unlock()
}
