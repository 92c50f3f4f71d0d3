package testbed

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
)

// VIP is an L4 TCP forwarder on one address that picks a backend per
// connection, in turn, like kube-proxy in IPVS round-robin mode or a cloud
// TCP load balancer. Every RPC on a connection goes to the backend that the
// connection was given: this is the ClusterIP problem.
type VIP struct {
	// Addr is the virtual address clients dial.
	Addr string

	lis net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex
	backends []string
	next     int
	conns    map[string]int // connections made to each backend, ever
	open     map[net.Conn]struct{}
	closed   bool
}

// StartVIP starts a forwarder on addr (port 0 picks one) in front of backends.
func StartVIP(addr string, backends ...string) (*VIP, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testbed: vip: %w", err)
	}
	v := &VIP{Addr: l.Addr().String(), lis: l, conns: make(map[string]int), open: make(map[net.Conn]struct{})}
	v.SetBackends(backends...)
	v.wg.Add(1)
	go v.serve()
	return v, nil
}

// SetBackends replaces the backend list; existing connections stay where
// they are, as they do behind a real L4 balancer.
func (v *VIP) SetBackends(addrs ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.backends = append([]string(nil), addrs...)
}

// Conns returns how many connections each backend has been given so far.
func (v *VIP) Conns() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.conns)
}

// CloseConns closes every forwarded connection, both its client's and its
// backend's side, as a network failure would; new connections are
// accepted as before.
func (v *VIP) CloseConns() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for c := range v.open {
		c.Close()
	}
}

// Close stops accepting, closes every forwarded connection and waits.
func (v *VIP) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.CloseConns()
	v.lis.Close()
	v.wg.Wait()
}

func (v *VIP) pick() (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.backends) == 0 {
		return "", errors.New("testbed: vip has no backends")
	}
	b := v.backends[v.next%len(v.backends)]
	v.next++
	v.conns[b]++
	return b, nil
}

func (v *VIP) track(c net.Conn) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	v.open[c] = struct{}{}
	return true
}

func (v *VIP) untrack(c net.Conn) {
	v.mu.Lock()
	delete(v.open, c)
	v.mu.Unlock()
	c.Close()
}

func (v *VIP) serve() {
	defer v.wg.Done()
	for {
		c, err := v.lis.Accept()
		if err != nil {
			return
		}
		v.wg.Add(1)
		go v.forward(c)
	}
}

func (v *VIP) forward(client net.Conn) {
	defer v.wg.Done()
	if !v.track(client) {
		client.Close()
		return
	}
	defer v.untrack(client)
	addr, err := v.pick()
	if err != nil {
		return
	}
	server, err := net.Dial("tcp", addr)
	if err != nil {
		return // the client sees the connection close, as with a dead backend
	}
	if !v.track(server) {
		server.Close()
		return
	}
	defer v.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}
