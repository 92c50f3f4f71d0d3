package kubeapi

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// DocMap hands out documentation addresses (RFC 5737 IPv4, RFC 3849
// IPv6) for loopback backends, since EndpointSlices may not hold loopback
// addresses, and dials them by mapping them back. Give Dial to the gRPC
// client under test with grpc.WithContextDialer.
type DocMap struct {
	mu   sync.Mutex
	next int
	toLo map[netip.Addr]netip.Addr // documentation address → loopback
	toV4 map[netip.Addr]netip.Addr // loopback → its IPv4 documentation address
	toV6 map[netip.Addr]netip.Addr // loopback → its IPv6 documentation address
}

// NewDocMap returns an empty map.
func NewDocMap() *DocMap {
	return &DocMap{
		toLo: make(map[netip.Addr]netip.Addr),
		toV4: make(map[netip.Addr]netip.Addr),
		toV6: make(map[netip.Addr]netip.Addr),
	}
}

// the IPv4 documentation networks, 253 usable addresses each.
var docNets = [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}

// Addrs returns the IPv4 and IPv6 documentation addresses of the backend
// at loopback address lo ("127.x.y.z:port" or just the IP), assigning them
// on first use.
func (m *DocMap) Addrs(lo string) (v4, v6 string) {
	ip := mustIP(lo)
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.toV4[ip]; ok {
		return a.String(), m.toV6[ip].String()
	}
	n := m.next
	m.next++
	if n >= 253*len(docNets) {
		panic("kubeapi: DocMap has no documentation address left")
	}
	net3 := docNets[n/253]
	a4 := netip.AddrFrom4([4]byte{net3[0], net3[1], net3[2], byte(1 + n%253)})
	a6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(n >> 8), 15: byte(n)})
	m.toV4[ip], m.toV6[ip] = a4, a6
	m.toLo[a4], m.toLo[a6] = ip, ip
	return a4.String(), a6.String()
}

// V4 is the IPv4 documentation address of the backend at lo.
func (m *DocMap) V4(lo string) string { v4, _ := m.Addrs(lo); return v4 }

// V6 is the IPv6 documentation address of the backend at lo.
func (m *DocMap) V6(lo string) string { _, v6 := m.Addrs(lo); return v6 }

// Dial dials addr ("host:port"), replacing a documentation address by its
// loopback backend; other addresses fail, so nothing leaves the machine.
func (m *DocMap) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("kubeapi: %q is not an IP address", addr)
	}
	m.mu.Lock()
	lo, ok := m.toLo[ip]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("kubeapi: %s is not a mapped documentation address", ip)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort(lo.String(), port))
}

func mustIP(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		panic(fmt.Sprintf("kubeapi: %q is not an IP or IP:port", s))
	}
	return ip
}
