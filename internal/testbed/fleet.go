package testbed

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/grpc"
)

// FleetConfig configures a Fleet.
type FleetConfig struct {
	// FirstIP is the address of the first backend; the next ones count up
	// from it (127.0.0.2, 127.0.0.3, ...). Zero picks a random 127.x.y.2 so
	// fleets of tests running in parallel do not collide.
	FirstIP netip.Addr
	// Port all backends share; 0 picks a free one.
	Port int
	// ServerOptions are passed to every backend's grpc.NewServer.
	ServerOptions []grpc.ServerOption
}

// Fleet is a set of backends on consecutive loopback addresses sharing one
// port, the way the pods of a headless Service share a port.
type Fleet struct {
	cfg  FleetConfig
	port int

	mu       sync.Mutex
	backends []*Backend
	next     netip.Addr
}

// StartFleet starts n backends named b1..bn.
func StartFleet(n int, cfg FleetConfig) (*Fleet, error) {
	const attempts = 20
	var lastErr error
	for range attempts {
		first := cfg.FirstIP
		if !first.IsValid() {
			first = netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(250)), byte(rand.IntN(256)), 2})
		}
		f := &Fleet{cfg: cfg, port: cfg.Port, next: first}
		if f.port == 0 {
			p, err := freePort(first)
			if err != nil {
				return nil, err
			}
			f.port = p
		}
		_, err := f.Add(n)
		if err == nil {
			return f, nil
		}
		f.Close()
		lastErr = err
		if cfg.Port != 0 || !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, fmt.Errorf("testbed: starting a fleet of %d: %w", n, lastErr)
}

// FleetFor is StartFleet for a test: it fails tb if the fleet cannot
// start, and closes the fleet when the test ends.
func FleetFor(tb testing.TB, n int, cfg FleetConfig) *Fleet {
	tb.Helper()
	f, err := StartFleet(n, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f
}

var errAddrInUse = errors.New("address in use")

func freePort(ip netip.Addr) (int, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return 0, fmt.Errorf("testbed: finding a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Add starts n more backends on the next addresses and returns them.
func (f *Fleet) Add(n int) ([]*Backend, error) {
	var added []*Backend
	for range n {
		f.mu.Lock()
		ip := f.next
		f.next = ip.Next()
		name := "b" + strconv.Itoa(len(f.backends)+1)
		f.mu.Unlock()
		b, err := StartBackend(name, netip.AddrPortFrom(ip, uint16(f.port)).String(), f.cfg.ServerOptions...)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return added, err
		}
		f.mu.Lock()
		f.backends = append(f.backends, b)
		f.mu.Unlock()
		added = append(added, b)
	}
	return added, nil
}

// Port is the port every backend listens on.
func (f *Fleet) Port() int { return f.port }

// Backends returns every backend started so far, running or not.
func (f *Fleet) Backends() []*Backend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Backend(nil), f.backends...)
}

// Addrs returns the host:port of every backend, in start order.
func (f *Fleet) Addrs() []string {
	bs := f.Backends()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out
}

// IPs returns the IP of every backend, in start order.
func (f *Fleet) IPs() []netip.Addr {
	bs := f.Backends()
	out := make([]netip.Addr, len(bs))
	for i, b := range bs {
		out[i] = netip.MustParseAddrPort(b.Addr).Addr()
	}
	return out
}

// ByAddr returns the backend listening on addr, or nil.
func (f *Fleet) ByAddr(addr string) *Backend {
	for _, b := range f.Backends() {
		if b.Addr == addr {
			return b
		}
	}
	return nil
}

// Close kills every backend.
func (f *Fleet) Close() {
	for _, b := range f.Backends() {
		b.Kill()
	}
}
