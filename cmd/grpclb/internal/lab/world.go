package lab

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/testbed"
)

// World is what one run plays in: backends on 127.0.0.x sharing a port, a
// DNS name listing the running ones, and a VIP forwarding to them.
type World struct {
	DNS   *testbed.DNSServer
	Fleet *testbed.Fleet
	VIP   *testbed.VIP
	// Name is the DNS name of the service, e.g. "backend.lab.".
	Name string
	// Registry, when a strategy uses one, is kept in step with the running
	// backends.
	Registry registry
	// Baseline is set for a strategy that runs the scenario without its
	// fault, as the reference the others are compared with.
	Baseline bool

	mu          sync.Mutex
	terminating map[*testbed.Backend]time.Duration // backends shutting down -> since when
	avoid       map[string]window                  // backend addr -> when clients should not call it (terminating or frozen)
	start       time.Time
	addedAt     map[string]time.Duration // backend addr -> when it joined, from start
	later       map[string]bool          // joined after the load started
}

func newWorld(initial int, serverOpts []grpc.ServerOption) (*World, error) {
	w := &World{Name: "backend.lab.", addedAt: make(map[string]time.Duration), later: make(map[string]bool)}
	var err error
	if w.DNS, err = testbed.StartDNS(); err != nil {
		return nil, err
	}
	w.Fleet, err = testbed.StartFleet(initial, testbed.FleetConfig{
		FirstIP:       netip.MustParseAddr("127.0.0.2"),
		ServerOptions: serverOpts,
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	if w.VIP, err = testbed.StartVIP("127.0.0.1:0"); err != nil {
		w.Close()
		return nil, err
	}
	for _, addr := range w.Fleet.Addrs() {
		w.addedAt[addr] = 0
	}
	w.publish()
	return w, nil
}

// Target is the service's host:port, for a DNS-based target.
func (w *World) Target() string { return fmt.Sprintf("%s:%d", w.Name, w.Fleet.Port()) }

// startClock marks the start of the load: times are measured from here.
func (w *World) startClock() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start = time.Now()
}

// Since is the time since the load started.
func (w *World) Since() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Since(w.start)
}

// Add starts n backends and publishes them in DNS and behind the VIP, as a
// scale-up of a Deployment would.
func (w *World) Add(n int) error {
	added, err := w.Fleet.Add(n)
	w.joinedNow(added, w.Since())
	return err
}

// joinedNow records backends started (and set up) by the caller as joined
// at `at`, and publishes them.
func (w *World) joinedNow(added []*testbed.Backend, at time.Duration) {
	w.mu.Lock()
	for _, b := range added {
		w.addedAt[b.Addr] = at
		w.later[b.Addr] = true
	}
	w.mu.Unlock()
	w.publish()
}

// SetLatency makes every backend answer in d.
func (w *World) SetLatency(d time.Duration) {
	for _, b := range w.Fleet.Backends() {
		b.SetLatency(d)
	}
}

// Remove stops a backend gracefully and takes it out of DNS and the VIP, as
// a scale-down would.
func (w *World) Remove(b *testbed.Backend) {
	b.Stop()
	w.publish()
}

// Terminate starts shutting b down the way Kubernetes deletes a pod: it
// leaves DNS, the VIP and registries at once (an EndpointSlice marks it
// terminating, still serving) but keeps serving until Remove stops it.
func (w *World) Terminate(b *testbed.Backend) {
	w.mu.Lock()
	if w.terminating == nil {
		w.terminating = make(map[*testbed.Backend]time.Duration)
	}
	at := time.Since(w.start)
	w.terminating[b] = at
	w.avoidLocked(b.Addr, at)
	w.mu.Unlock()
	w.publish()
}

// window is a span of the run, from the start of the load; until 0 is
// open.
type window struct{ since, until time.Duration }

func (w *World) avoidLocked(addr string, since time.Duration) {
	if w.avoid == nil {
		w.avoid = make(map[string]window)
	}
	w.avoid[addr] = window{since: since}
}

// Freeze makes b stop answering (its connections stay open, nothing is
// read or answered, as a SIGSTOPped process or a hung host) and records
// when, so calls that still go to it are counted. It stays in DNS and the
// registries: nothing outside the client notices.
func (w *World) Freeze(b *testbed.Backend) {
	w.mu.Lock()
	w.avoidLocked(b.Addr, time.Since(w.start))
	w.mu.Unlock()
	b.Freeze()
}

// Thaw lets a frozen backend answer again; calls to it count as normal
// again from now.
func (w *World) Thaw(b *testbed.Backend) {
	b.Thaw()
	w.mu.Lock()
	if win, ok := w.avoid[b.Addr]; ok {
		win.until = time.Since(w.start)
		w.avoid[b.Addr] = win
	}
	w.mu.Unlock()
}

// terminatedAny says whether any backend was terminated or frozen in the
// run.
func (w *World) terminatedAny() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.avoid) > 0
}

// terminatedAt says when clients should have stopped calling addr, if
// they should have: a call started at t counts if t is after that (and
// before the backend thawed).
func (w *World) terminatedAt(addr string, t time.Duration) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	win, ok := w.avoid[addr]
	if !ok || t <= win.since || (win.until != 0 && t >= win.until) {
		return 0, false
	}
	return win.since, true
}

// publish points DNS and the VIP at every running backend that is not
// terminating, and brings the registry in step.
func (w *World) publish() {
	var ips []netip.Addr
	var addrs []string
	var running, terminating []*testbed.Backend
	w.mu.Lock()
	for _, b := range w.Fleet.Backends() {
		if !b.Running() {
			continue
		}
		running = append(running, b)
		if _, ok := w.terminating[b]; ok {
			terminating = append(terminating, b)
			continue
		}
		ips = append(ips, netip.MustParseAddrPort(b.Addr).Addr())
		addrs = append(addrs, b.Addr)
	}
	w.mu.Unlock()
	w.DNS.SetHosts(w.Name, 1, ips...)
	w.VIP.SetBackends(addrs...)
	if w.Registry != nil {
		w.Registry.sync(running, terminating)
	}
}

// joined returns when addr joined and whether that was after the start.
func (w *World) joined(addr string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addedAt[addr], w.later[addr]
}

// Close stops everything.
func (w *World) Close() {
	if w.Registry != nil {
		w.Registry.close()
	}
	if w.VIP != nil {
		w.VIP.Close()
	}
	if w.Fleet != nil {
		w.Fleet.Close()
	}
	if w.DNS != nil {
		w.DNS.Close()
	}
}
