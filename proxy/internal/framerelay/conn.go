package framerelay

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Windows the relay grants its peers, and when it gives bytes back.
const (
	StreamWindow = 1 << 20  // per stream (SETTINGS_INITIAL_WINDOW_SIZE)
	ConnWindow   = 16 << 20 // per connection
	streamGrant  = StreamWindow / 4

	defaultWindow   = 65535 // HTTP/2's initial windows
	defaultMaxFrame = 16384
	bufSize         = 64 << 10
)

// conn is one HTTP/2 connection: a reader (rfr, used only by its read
// loop) and a writer whose frames go into a buffer under mu and are
// flushed by the flusher goroutine, which batches the frames written
// while it wakes up.
type conn struct {
	nc  net.Conn
	rfr *http2.Framer

	mu      sync.Mutex
	bw      *bufio.Writer
	fr      *http2.Framer
	enc     *hpack.Encoder
	hb      bytes.Buffer
	dirty   bool
	closed  bool
	sendWin int64            // connection window the peer gave us
	initWin int64            // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	maxOut  int              // the peer's SETTINGS_MAX_FRAME_SIZE
	out     map[uint32]*half // streams this side writes, by stream id
	blocked []*half          // streams with queued data, waiting for window
	kick    chan struct{}    // a flush is wanted
	stop    chan struct{}    // closed by close

	// recvWin is the connection window left to the peer: the reader
	// subtracts what it reads, grants add what was written on.
	recvWin atomic.Int64
	// owed is what was written on and not yet granted back (under mu).
	owed int64
	// win is its window and share of the relay's buffer budget (under
	// mu); growAt is win.growBelow(), for the reader to check unlocked.
	win    connWindow
	growAt atomic.Int64
}

// newConn starts a connection whose window beyond HTTP/2's initial one
// is drawn from b (nil: no budget).
func newConn(nc net.Conn, b *budget) *conn {
	c := &conn{
		nc:      nc,
		win:     connWindow{b: b, size: defaultWindow, out: defaultWindow},
		bw:      bufio.NewWriterSize(nc, bufSize),
		initWin: defaultWindow,
		sendWin: defaultWindow,
		maxOut:  defaultMaxFrame,
		out:     map[uint32]*half{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	c.fr = http2.NewFramer(c.bw, nil)
	c.enc = hpack.NewEncoder(&c.hb)
	c.rfr = http2.NewFramer(nil, bufio.NewReaderSize(nc, bufSize))
	c.rfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.rfr.MaxHeaderListSize = 1 << 20
	c.recvWin.Store(defaultWindow)
	c.growAt.Store(c.win.growBelow())
	go c.flusher()
	return c
}

// start writes the relay's SETTINGS (its connection window starts at
// HTTP/2's initial one and grows with use: see connWindow).
// Must be the first write.
func (c *conn) start(extra ...http2.Setting) {
	c.mu.Lock()
	c.fr.WriteSettings(append(extra, http2.Setting{ID: http2.SettingInitialWindowSize, Val: StreamWindow})...)
	c.unlock()
}

// unlock releases mu after writing and makes sure a flush follows.
func (c *conn) unlock() {
	need := !c.dirty
	c.dirty = true
	c.mu.Unlock()
	if need {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *conn) flusher() {
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		c.mu.Lock()
		c.dirty = false
		err := c.bw.Flush()
		c.mu.Unlock()
		if err != nil {
			c.nc.Close()
			return
		}
	}
}

// close closes the connection; the read loop then ends.
func (c *conn) close() {
	c.mu.Lock()
	var woken []*conn
	if !c.closed {
		c.closed = true
		close(c.stop)
		woken = c.releaseLocked()
	}
	c.mu.Unlock()
	c.nc.Close()
	wake(woken)
}

// half is one direction of a relayed stream: what the relay writes on
// stream id of conn c, with the window the peer gave it and the frames
// waiting for window. Its fields are under c.mu.
type half struct {
	c     *conn
	id    uint32
	win   int64
	queue []item
	done  bool // END_STREAM or RST_STREAM written: forget it

	// from is the other half's connection, the origin of what this half
	// writes: bytes written here are granted back to it on stream fromID.
	from   *conn
	fromID uint32
	// fromOpen is false once the origin ended its side: no stream grant.
	fromOpen atomic.Bool
	// keepsWindow: what this half writes is held by its call (a request
	// kept to be sent again, see RetryPolicy), whose window goes back
	// when the call commits: none is given as it is written or dropped.
	keepsWindow bool
	// recvWin is the stream window left to the origin (its reader
	// subtracts, grants add).
	recvWin atomic.Int64
	// owed is what was written and not yet granted back on the stream
	// (under from.mu).
	owed int64
}

// item is a frame waiting for window: data (copied) or a header block.
type item struct {
	data    []byte
	headers []hpack.HeaderField
	end     bool
}

// open registers a new stream half to write on id (under mu).
func (c *conn) openLocked(id uint32, from *conn, fromID uint32) *half {
	h := &half{c: c, id: id, win: c.initWin, from: from, fromID: fromID}
	h.fromOpen.Store(true)
	h.recvWin.Store(StreamWindow)
	c.out[id] = h
	return h
}

// writeHeadersLocked writes fields on h, after any data it has queued.
func (h *half) writeHeadersLocked(fields []hpack.HeaderField, end bool) {
	if len(h.queue) > 0 {
		h.queue = append(h.queue, item{headers: fields, end: end})
		return
	}
	h.c.headerFrames(h.id, fields, end)
	if end {
		h.finishLocked()
	}
}

// headerFrames writes a header block on stream id, with CONTINUATION
// frames when it is larger than the peer's frame size.
func (c *conn) headerFrames(id uint32, fields []hpack.HeaderField, end bool) {
	c.hb.Reset()
	for _, f := range fields {
		c.enc.WriteField(f)
	}
	block := c.hb.Bytes()
	first := block[:min(len(block), c.maxOut)]
	rest := block[len(first):]
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(rest) == 0})
	for len(rest) > 0 {
		n := min(len(rest), c.maxOut)
		c.fr.WriteContinuation(id, n == len(rest), rest[:n])
		rest = rest[n:]
	}
}

// writeDataLocked writes data on h as far as the windows allow and
// queues the rest, copied unless kept: kept data (held request data, see
// pending.keep) stays the call's and is not changed while queued. It
// returns the bytes written now.
func (h *half) writeDataLocked(data []byte, end, kept bool) int {
	n := 0
	if len(h.queue) == 0 {
		n = h.sendLocked(data, end)
		if n == len(data) {
			return n
		}
		h.c.blocked = append(h.c.blocked, h)
	}
	rest := data[n:]
	if !kept {
		rest = bytes.Clone(rest)
	}
	h.queue = append(h.queue, item{data: rest, end: end})
	return n
}

// sendLocked writes as much of data as the windows allow, in frames of
// at most the peer's frame size; end goes on the last frame if all of
// data is written. It returns the bytes written.
func (h *half) sendLocked(data []byte, end bool) int {
	c := h.c
	sent := 0
	for {
		rem := len(data) - sent
		if rem == 0 && !end {
			return sent
		}
		n := max(int(min(int64(rem), h.win, c.sendWin, int64(c.maxOut))), 0)
		if n == 0 && rem > 0 {
			return sent // blocked: no window
		}
		last := n == rem
		c.fr.WriteData(h.id, last && end, data[sent:sent+n])
		h.win -= int64(n)
		c.sendWin -= int64(n)
		sent += n
		if last {
			if end {
				h.finishLocked()
			}
			return sent
		}
	}
}

// dropLocked drops h's queued data, its stream having ended early, and
// returns the bytes dropped: their connection window is owed to h's
// origin (h.from.giveConn, once h.c.mu is let go).
func (h *half) dropLocked() int64 {
	if h.keepsWindow {
		h.queue = nil
		return 0
	}
	var n int64
	for _, it := range h.queue {
		n += int64(len(it.data))
	}
	h.queue = nil
	return n
}

// finishLocked forgets a half whose stream this side has ended.
func (h *half) finishLocked() {
	h.done = true
	delete(h.c.out, h.id)
}

// grant is bytes of a half's origin that were written on, to be given
// back to the origin.
type grant struct {
	h *half
	n int
}

// drainLocked writes what the blocked halves can now send, after the
// windows grew; it returns the grants owed to their origins.
func (c *conn) drainLocked() []grant {
	var grants []grant
	still := c.blocked[:0]
	for _, h := range c.blocked {
		if h.done {
			continue
		}
		n := 0
		for len(h.queue) > 0 {
			it := &h.queue[0]
			if it.headers != nil {
				c.headerFrames(h.id, it.headers, it.end)
				if it.end {
					h.finishLocked()
				}
				h.queue = h.queue[1:]
				continue
			}
			k := h.sendLocked(it.data, it.end)
			n += k
			if k < len(it.data) {
				it.data = it.data[k:]
				break
			}
			h.queue = h.queue[1:]
		}
		if n > 0 && !h.keepsWindow {
			grants = append(grants, grant{h, n})
		}
		if len(h.queue) > 0 {
			still = append(still, h)
		}
	}
	c.blocked = still
	return grants
}

// windowUpdate applies a WINDOW_UPDATE from the peer and writes what it
// unblocks; it returns the grants owed to the origins.
func (c *conn) windowUpdate(id uint32, inc uint32) []grant {
	c.mu.Lock()
	if id == 0 {
		c.sendWin += int64(inc)
	} else if h := c.out[id]; h != nil {
		h.win += int64(inc)
	}
	var grants []grant
	if len(c.blocked) > 0 {
		grants = c.drainLocked()
	}
	c.unlock()
	return grants
}

// settings applies the peer's SETTINGS and acknowledges them.
func (c *conn) settings(f *http2.SettingsFrame) []grant {
	c.mu.Lock()
	f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.initWin
			c.initWin = int64(s.Val)
			for _, h := range c.out {
				h.win += delta
			}
		case http2.SettingMaxFrameSize:
			c.maxOut = int(s.Val)
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	c.fr.WriteSettingsAck()
	var grants []grant
	if len(c.blocked) > 0 {
		grants = c.drainLocked()
	}
	c.unlock()
	return grants
}

// give grants n bytes of stream h.fromID back to h's origin, in batches.
func give(h *half, n int) {
	o := h.from
	o.mu.Lock()
	woken := o.cameBackLocked(int64(n))
	o.grantLocked(false)
	if h.fromOpen.Load() {
		h.owed += int64(n)
		if h.owed >= streamGrant {
			o.fr.WriteWindowUpdate(h.fromID, uint32(h.owed))
			h.recvWin.Add(h.owed)
			h.owed = 0
		}
	}
	o.unlock()
	wake(woken)
}

func giveAll(grants []grant) {
	for _, g := range grants {
		give(g.h, g.n)
	}
}
