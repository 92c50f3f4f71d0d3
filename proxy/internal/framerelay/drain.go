package framerelay

import (
	"context"
	"time"

	"golang.org/x/net/http2"
)

// drainPoll is how often Drain looks for client connections whose calls
// have all ended.
const drainPoll = 10 * time.Millisecond

// Drain stops the relay gracefully. Its health turns NOT_SERVING at once;
// after grace (for clients and registries to notice), its listeners
// close and every client connection gets GOAWAY: calls opened after that
// are refused (REFUSED_STREAM, which clients retry elsewhere), calls in
// flight go on, and each connection closes once they have ended and their
// responses are written; the relay's own health watches are reset. Drain
// returns when every client connection has
// closed, or when ctx is done (the rest are then closed), and leaves the
// relay closed.
func (r *Relay) Drain(ctx context.Context, grace time.Duration) error {
	r.mu.Lock()
	r.draining = true // not ready any more; clients are still taken until the GOAWAYs
	r.mu.Unlock()
	if l := r.local.Load(); l != nil {
		l.health.Shutdown()
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	r.mu.Lock()
	for _, l := range r.lis {
		l.Close()
	}
	r.refusing = true
	r.mu.Unlock()
	for _, c := range r.clientConns() {
		c.drain()
	}
	if l := r.local.Load(); l != nil {
		l.srv.Stop() // health watches never end by themselves: reset them
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		left := r.clientConns()
		for _, c := range left {
			c.closeIfDone()
		}
		if len(left) == 0 {
			r.Close()
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			r.Close()
			return ctx.Err()
		}
	}
}

// clientConns returns the client connections open.
func (r *Relay) clientConns() []*clientConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*clientConn, 0, len(r.clients))
	for c := range r.clients {
		out = append(out, c)
	}
	return out
}

// drain sends GOAWAY naming the last call the connection took; calls the
// client opens after it are refused.
func (c *clientConn) drain() {
	c.mu.Lock()
	if !c.draining {
		c.draining = true
		c.fr.WriteGoAway(c.lastID, http2.ErrCodeNo, nil)
	}
	c.unlock()
}

// takeStream decides whether the reader takes new stream id: false once
// the connection is draining (GOAWAY sent before id).
func (c *clientConn) takeStream(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return false
	}
	c.lastID = id
	return true
}

// closeIfDone closes a draining connection whose calls have all ended and
// whose responses are all written, and reports whether it did.
func (c *clientConn) closeIfDone() bool {
	c.mu.Lock()
	c.lmu.Lock()
	done := c.draining && len(c.out) == 0 && len(c.live) == 0
	c.lmu.Unlock()
	if done && !c.closed {
		c.bw.Flush()
	}
	c.mu.Unlock()
	if done {
		c.close()
	}
	return done
}
