package testbed

import (
	"net"
	"sync"
)

// faultListener wraps a TCP listener so a backend can be frozen (nothing is
// accepted, read or written, while the kernel still completes handshakes and
// ACKs data) or killed (every connection reset at once).
type faultListener struct {
	net.Listener
	gate *gate

	mu    sync.Mutex
	conns map[*faultConn]struct{}
}

func newFaultListener(l net.Listener, g *gate) *faultListener {
	return &faultListener{Listener: l, gate: g, conns: make(map[*faultConn]struct{})}
}

func (l *faultListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.gate.wait() // a frozen process does not call accept(2)
	fc := &faultConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[fc] = struct{}{}
	l.mu.Unlock()
	return fc, nil
}

// resetAll closes every accepted connection with SO_LINGER 0, so the peer
// sees a TCP RST, as when a process is SIGKILLed.
func (l *faultListener) resetAll() {
	l.mu.Lock()
	conns := make([]*faultConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

func (l *faultListener) forget(c *faultConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// faultConn holds data back while the gate is frozen: bytes that arrive are
// ACKed by the kernel but never reach the gRPC server, and nothing it writes
// leaves.
type faultConn struct {
	net.Conn
	l    *faultListener
	once sync.Once
}

func (c *faultConn) Read(b []byte) (int, error) {
	c.l.gate.wait()
	n, err := c.Conn.Read(b)
	c.l.gate.wait() // data read just as the freeze began is held back too
	return n, err
}

func (c *faultConn) Write(b []byte) (int, error) {
	c.l.gate.wait()
	return c.Conn.Write(b)
}

func (c *faultConn) Close() error {
	c.once.Do(func() { c.l.forget(c) })
	return c.Conn.Close()
}
