package pool

import (
	"math/rand/v2"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
)

// conn is one of the pool's connections.
type conn struct {
	addr     string
	sc       balancer.SubConn
	done     func(balancer.DoneInfo) // made once: Pick allocates nothing
	inFlight atomic.Int64

	// Guarded by the balancer's mutex.
	state   connectivity.State
	lastErr error
}

func newPicker(ready []*conn, rule string) balancer.Picker {
	conns := append([]*conn(nil), ready...)
	if rule == PickP2C && len(conns) > 1 {
		return &p2cPicker{conns: conns}
	}
	p := &rrPicker{conns: conns}
	p.next.Store(rand.Uint32()) // do not send every new picker's first call to the same connection
	return p
}

// rrPicker takes the READY connections in turn.
type rrPicker struct {
	conns []*conn
	next  atomic.Uint32
}

func (p *rrPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	c := p.conns[int(p.next.Add(1)%uint32(len(p.conns)))]
	return balancer.PickResult{SubConn: c.sc}, nil
}

// p2cPicker takes the less busy of two distinct random connections.
type p2cPicker struct {
	conns []*conn
}

func (p *p2cPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	n := len(p.conns)
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++ // distinct from i
	}
	c := p.conns[i]
	if o := p.conns[j]; o.inFlight.Load() < c.inFlight.Load() {
		c = o
	}
	c.inFlight.Add(1)
	return balancer.PickResult{SubConn: c.sc, Done: c.done}, nil
}

// errPicker fails or queues every call.
type errPicker struct{ err error }

func (p errPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, p.err
}
