package testbed

import "sync"

// gate blocks callers while it is closed (frozen) and lets them through when
// it is open. Shutting it down releases every waiter for good.
type gate struct {
	mu       sync.Mutex
	frozen   bool
	shutdown bool
	open     chan struct{} // closed while the gate is open
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

// freeze closes the gate: wait blocks until thaw or shut.
func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.frozen || g.shutdown {
		return
	}
	g.frozen = true
	g.open = make(chan struct{})
}

// thaw opens the gate and releases every waiter.
func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.frozen {
		return
	}
	g.frozen = false
	close(g.open)
}

// shut opens the gate for good; later freezes do nothing.
func (g *gate) shut() {
	g.thaw()
	g.mu.Lock()
	g.shutdown = true
	g.mu.Unlock()
}

// wait returns at once when the gate is open and blocks while it is frozen.
func (g *gate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

func (g *gate) isFrozen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.frozen
}
