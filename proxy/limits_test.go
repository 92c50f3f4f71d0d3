package proxy_test

import (
	"io"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// h2Preface is what an HTTP/2 client sends first: the connection preface
// and an empty SETTINGS frame. A connection that sent it and nothing more
// is an idle HTTP/2 connection.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// openConns opens n TCP connections to addr, writing preface on each, and
// returns a channel that receives once per connection the server closes.
func openConns(t *testing.T, addr string, n int, preface string) <-chan struct{} {
	t.Helper()
	closed := make(chan struct{}, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, preface); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, c) // until the server closes it (or the test does)
			closed <- struct{}{}
		}()
	}
	return closed
}

// waitClosed waits for n closes on closed within d.
func waitClosed(t *testing.T, closed <-chan struct{}, n int, d time.Duration, what string) {
	t.Helper()
	timeout := time.After(d)
	for i := range n {
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("%s: %d of %d connections closed within %v", what, i, n, d)
		}
	}
}

// metric returns the value of the series line that starts with name in
// the proxy's /metrics.
func metric(t *testing.T, p dataPlane, name string) float64 {
	t.Helper()
	admin := httptest.NewServer(p.AdminHandler())
	defer admin.Close()
	for _, line := range strings.Split(get(t, admin.URL+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// 2000 idle HTTP/2 connections are closed after connections.idleTimeout;
// TCP connections that never finish the handshake, after
// connections.handshakeTimeout. On both data planes.
func TestIdleAndHandshakeTimeouts(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Connections.IdleTimeout = proxy.Duration(500 * time.Millisecond)
			cfg.Connections.HandshakeTimeout = proxy.Duration(500 * time.Millisecond)
			p, addr := startPlane(t, plane, cfg, proxy.Options{})

			idle := 2000
			if raceEnabled {
				idle = 500 // each holds about 4 goroutines; the race detector allows 8128
			}
			closed := openConns(t, addr, idle, h2Preface)
			wait.For(t, 30*time.Second, "the idle connections counted open", func() bool {
				return metric(t, p, "grpclb_proxy_connections_open") >= 1
			})
			waitClosed(t, closed, idle, 60*time.Second, "idle HTTP/2 connections")

			silent := openConns(t, addr, 50, "")
			waitClosed(t, silent, 50, 30*time.Second, "connections that never handshake")
			wait.For(t, 10*time.Second, "connections_open back to 0", func() bool {
				return metric(t, p, "grpclb_proxy_connections_open") == 0
			})
		})
	}
}

// Connections beyond connections.max are closed as soon as accepted, and
// counted; those within it stay open. On both data planes.
func TestMaxConnections(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Connections.Max = 3
			p, addr := startPlane(t, plane, cfg, proxy.Options{})
			held := openConns(t, addr, 3, h2Preface)
			wait.For(t, 10*time.Second, "3 connections open", func() bool {
				return metric(t, p, "grpclb_proxy_connections_open") == 3
			})
			extra := openConns(t, addr, 2, h2Preface)
			waitClosed(t, extra, 2, 10*time.Second, "connections beyond the max")
			if n := metric(t, p, "grpclb_proxy_connections_refused_total"); n != 2 {
				t.Errorf("connections_refused_total %v, want 2", n)
			}
			select {
			case <-held:
				t.Error("a connection within the max was closed")
			default:
			}
		})
	}
}
