package etcdtest

import (
	"testing"

	"github.com/grpclb/grpclb/internal/testbed"
)

// Proxy is a TCP forwarder in front of a server. Cut closes every forwarded
// connection and refuses new ones until Restore, so a client that dials the
// proxy is disconnected from etcd while clients that dial etcd directly keep
// working.
type Proxy struct {
	vip    *testbed.VIP // with target as its one backend, none while cut
	target string
}

// StartProxy starts a proxy to target (host:port) on a free loopback port.
// It is closed in t.Cleanup.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	vip, err := testbed.StartVIP("127.0.0.1:0", target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(vip.Close)
	return &Proxy{vip: vip, target: target}
}

// Endpoint is the proxy's address, "127.0.0.1:PORT".
func (p *Proxy) Endpoint() string { return p.vip.Addr }

// Cut closes every connection through the proxy and refuses new ones: they
// are closed as soon as they are accepted.
func (p *Proxy) Cut() {
	p.vip.SetBackends()
	p.vip.CloseConns()
}

// Restore accepts connections again.
func (p *Proxy) Restore() { p.vip.SetBackends(p.target) }

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() { p.vip.Close() }
