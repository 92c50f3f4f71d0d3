package framerelay

import "sync"

// budget bounds the bytes the whole relay may be sent and not yet have
// written on, over all its connections (Limits.MaxBufferedBytes).
//
// The relay holds a peer's bytes only within the connection window it
// gave that peer, so the budget is drawn on when window is given: each
// connection may give its peer HTTP/2's initial 64 KiB for free, and
// every byte of window beyond that is charged to the budget until the
// bytes it let in are written on (or dropped). A connection that finds
// the budget spent gives what it has and waits: the peer is held back by
// its own flow control, and the connection is woken, to give the rest,
// when other connections return bytes. What the relay holds is then at
// most the budget plus 64 KiB per connection.
type budget struct {
	max int64

	mu      sync.Mutex
	used    int64
	waiting map[*conn]struct{}
}

func newBudget(max int64) *budget {
	return &budget{max: max, waiting: map[*conn]struct{}{}}
}

// take charges up to n bytes for c and returns how many it charged; when
// that is short of n, c waits to be woken (see give).
func (b *budget) take(c *conn, n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	got := max(min(n, b.max-b.used), 0)
	b.used += got
	if got < n {
		b.waiting[c] = struct{}{}
	}
	return got
}

// give returns n bytes to the budget. Once there is room for a
// connection's initial window, the connections that waited are returned
// to be woken (outside any connection's lock: see wake).
func (b *budget) give(n int64) []*conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if len(b.waiting) == 0 || b.max-b.used < defaultWindow && b.used > 0 {
		return nil
	}
	woken := make([]*conn, 0, len(b.waiting))
	for c := range b.waiting {
		woken = append(woken, c)
	}
	clear(b.waiting)
	return woken
}

// forget drops c from the waiting connections (it closed).
func (b *budget) forget(c *conn) {
	b.mu.Lock()
	delete(b.waiting, c)
	b.mu.Unlock()
}

// Used is the bytes charged now.
func (b *budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// connWindow is a connection's window and its side of the budget (under
// conn.mu). The window starts at HTTP/2's initial 64 KiB and doubles, up
// to ConnWindow, each time the peer is found to have less than half of it
// left as it sends: a busy connection grows its window, an idle one costs
// the budget nothing. A connection keeps what it has grown to while it is
// open (HTTP/2 cannot take window back).
type connWindow struct {
	b *budget // nil: no budget, the window is always given
	// size is the window the connection means its peer to have: out plus
	// what it owes (conn.owed).
	size int64
	// out is the connection window given to the peer and not yet come
	// back: bytes the peer may still send, plus bytes it sent that the
	// relay holds.
	out int64
	// charged is the part of out beyond the free initial window that the
	// budget has lent.
	charged int64
}

// growBelow is the window left to the peer under which the connection
// grows its window (half its size), or -1 once it is ConnWindow.
func (w *connWindow) growBelow() int64 {
	if w.size >= ConnWindow {
		return -1
	}
	return w.size / 2
}

// grow doubles c's window (up to ConnWindow), when the peer has less than
// half of it left, and gives the peer what the budget lends of it.
func (c *conn) grow() {
	c.mu.Lock()
	w := &c.win
	if w.size < ConnWindow && c.recvWin.Load() < w.size/2 {
		more := min(w.size, ConnWindow-w.size)
		w.size += more
		c.owed += more
		c.growAt.Store(w.growBelow())
		c.grantLocked(true)
	}
	c.unlock()
}

// grantLocked gives the peer back the connection window it is owed: all
// of it without a budget, else as much as the budget lends beyond the
// free initial window (the rest is given when the budget wakes c). Unless
// always, it gives only once a quarter of the window is owed, to batch
// WINDOW_UPDATEs. Under c.mu.
func (c *conn) grantLocked(always bool) {
	w := &c.win
	n := c.owed
	if c.closed || n <= 0 || !always && n < w.size/4 {
		return
	}
	if w.b != nil {
		if need := max(w.out+n-defaultWindow, 0) - w.charged; need > 0 {
			got := w.b.take(c, need)
			w.charged += got
			n -= need - got
		}
	}
	if n <= 0 {
		return
	}
	c.fr.WriteWindowUpdate(0, uint32(n))
	c.recvWin.Add(n)
	c.owed -= n
	w.out += n
}

// cameBackLocked records n bytes of window come back (written on or
// dropped: owed to the peer again) and returns the budget they no longer
// need; the connections to wake are returned for the caller to wake
// once it has let go of c.mu. Under c.mu.
func (c *conn) cameBackLocked(n int64) []*conn {
	c.owed += n
	c.win.out -= n
	b := c.win.b
	if b == nil {
		return nil
	}
	// Released in batches of an eighth of the window (at least 64 KiB),
	// not for every frame written on: the budget's lock is the relay's
	// one lock shared by every connection. What is not released yet stays
	// charged, so the bound holds; the next grant draws on it first.
	spare := c.win.charged - max(c.win.out-defaultWindow, 0)
	if spare < max(defaultWindow, c.win.size/8) {
		return nil
	}
	c.win.charged -= spare
	return b.give(spare)
}

// releaseLocked returns everything c has charged (it closed). Under c.mu.
func (c *conn) releaseLocked() []*conn {
	b := c.win.b
	if b == nil {
		return nil
	}
	b.forget(c)
	spare := c.win.charged
	c.win.charged = 0
	if spare == 0 {
		return nil
	}
	return b.give(spare)
}

// wake gives the woken connections the window they are owed.
func wake(conns []*conn) {
	for _, c := range conns {
		c.mu.Lock()
		c.grantLocked(true)
		c.unlock()
	}
}
