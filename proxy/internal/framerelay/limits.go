package framerelay

import (
	"cmp"
	"math/rand/v2"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits bound what clients may use of the relay. Zero means the default.
type Limits struct {
	// MaxConcurrentStreams is the most calls in flight on one client
	// connection (SETTINGS_MAX_CONCURRENT_STREAMS); a client that opens
	// more has them refused (REFUSED_STREAM). Default 1000.
	MaxConcurrentStreams uint32
	// MaxHeaderListBytes bounds a call's request headers (advertised as
	// SETTINGS_MAX_HEADER_LIST_SIZE; larger ones get RESOURCE_EXHAUSTED)
	// and its response headers and trailers (larger ones fail the call:
	// UNAVAILABLE before a response started, a reset after). One header
	// value longer than the limit ends the connection (COMPRESSION_ERROR,
	// as in Go's HTTP/2 server). Default 16 KiB.
	MaxHeaderListBytes uint32
	// MaxConnections is the most client connections open at once; those
	// beyond are closed as soon as accepted. Default 5000.
	MaxConnections int
	// IdleTimeout closes (GOAWAY) a client connection that has had no
	// call for this long. Default 1h; negative: never.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a new client connection's TLS handshake
	// and HTTP/2 preface. Default 10s.
	HandshakeTimeout time.Duration
	// MaxConnectionAge, when set, sends a client connection GOAWAY after
	// this long (±10%), so that clients of an L4 balancer reconnect and
	// spread over the relay's replicas; its calls in flight then have
	// MaxConnectionAgeGrace (default 1m) to finish before it is closed.
	MaxConnectionAge      time.Duration
	MaxConnectionAgeGrace time.Duration
	// MaxRequestBytes and MaxResponseBytes, when set, bound the size of
	// a call's messages as they cross the relay (compressed, if they
	// are: the relay never decompresses): a call with a larger one is
	// reset on its backend and ends RESOURCE_EXHAUSTED. Zero: no bound
	// (the backend's and the client's own apply).
	MaxRequestBytes  int64
	MaxResponseBytes int64
	// MaxBufferedBytes bounds the bytes the whole relay holds, sent to it
	// by clients or backends and not yet written on: the connection
	// windows it gives beyond HTTP/2's initial 64 KiB are lent from this
	// budget, so a peer sends no more than the relay can hold (see
	// budget). Each connection still holds at most its 16 MiB window.
	// The bound is the budget plus 64 KiB per connection. Default 256 MiB.
	MaxBufferedBytes int64
}

// Default limits.
const (
	DefaultMaxConcurrentStreams  = 1000
	DefaultMaxHeaderListBytes    = 16 << 10
	DefaultMaxConnections        = 5000
	DefaultIdleTimeout           = time.Hour
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultMaxConnectionAgeGrace = time.Minute
	DefaultMaxBufferedBytes      = 256 << 20
)

func (l Limits) withDefaults() Limits {
	l.MaxConcurrentStreams = cmp.Or(l.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	l.MaxHeaderListBytes = cmp.Or(l.MaxHeaderListBytes, DefaultMaxHeaderListBytes)
	l.MaxConnections = cmp.Or(l.MaxConnections, DefaultMaxConnections)
	l.IdleTimeout = cmp.Or(l.IdleTimeout, DefaultIdleTimeout)
	l.HandshakeTimeout = cmp.Or(l.HandshakeTimeout, DefaultHandshakeTimeout)
	l.MaxConnectionAgeGrace = cmp.Or(l.MaxConnectionAgeGrace, DefaultMaxConnectionAgeGrace)
	l.MaxBufferedBytes = cmp.Or(l.MaxBufferedBytes, DefaultMaxBufferedBytes)
	return l
}

// ageOut sends the connection GOAWAY once it is age old (±10%), then
// closes it when its calls have ended, or grace later.
func (c *clientConn) ageOut(age, grace time.Duration) {
	if age <= 0 {
		return
	}
	age = time.Duration(float64(age) * (0.9 + 0.2*rand.Float64()))
	c.mu.Lock()
	c.aging = time.AfterFunc(age, func() {
		c.drain()
		tick := time.NewTicker(drainPoll)
		defer tick.Stop()
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
		for !c.closeIfDone() {
			select {
			case <-tick.C:
			case <-deadline.C:
				c.close()
				return
			case <-c.stop:
				return
			}
		}
	})
	c.mu.Unlock()
}

// register records a new call of the connection; false if the connection
// already has as many calls as it may.
func (c *clientConn) register(id uint32, l *link, max uint32) bool {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	if uint32(len(c.live)) >= max {
		return false
	}
	c.live[id] = l
	c.idleSince = time.Time{}
	return true
}

// watchIdle closes the connection (GOAWAY) once it has had no call for
// timeout; it checks again as often as the timeout.
func (c *clientConn) watchIdle(timeout time.Duration) {
	if timeout < 0 {
		return
	}
	c.lmu.Lock()
	c.idleSince = time.Now()
	c.lmu.Unlock()
	var check func()
	check = func() {
		c.lmu.Lock()
		since := c.idleSince
		c.lmu.Unlock()
		next := timeout
		if !since.IsZero() {
			idle := time.Since(since)
			if idle >= timeout {
				c.goAway(nil)
				return
			}
			next = timeout - idle
		}
		c.mu.Lock()
		closed := c.closed
		if !closed {
			c.idle = time.AfterFunc(next, check)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.idle = time.AfterFunc(timeout, check)
	c.mu.Unlock()
}

// errRefused is how a call refused for the stream limit ended, for its
// policy.
var errRefused = status.Error(codes.Unavailable, "framerelay: refused: too many calls on the client connection")

// refuse resets a call the connection has no room for; the client may
// retry it (REFUSED_STREAM: nothing was processed).
func (c *clientConn) refuse(id uint32) {
	c.mu.Lock()
	c.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
	c.unlock()
}
