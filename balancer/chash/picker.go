package chash

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"

	"github.com/grpclb/grpclb/internal/policy"
)

// picker is immutable except for the in-flight counters it shares with the
// balancer and the once-per-picker connect requests. It is rebuilt on
// every state change; the ring only when the endpoint set changes.
type picker struct {
	ring *ring
	hot  []hotEndpoint  // by ring node index: what a pick reads
	eps  []pickEndpoint // by ring node index: the rest

	total       *atomic.Int64 // in-flight calls of the balancer, all endpoints
	loadFactor  float64       // 0: unbounded
	readyWeight float64       // sum of the weights of READY endpoints
	nReady      int
	waiting     bool // some endpoint is CONNECTING or IDLE

	header     string // metadata key of the hash key, or ""
	missingErr error  // returned for calls without a key; nil: random
}

// hotEndpoint is what a pick reads of an endpoint on its way: 32 bytes,
// two to a cache line, in one array. With 10,000 endpoints the picker's
// data outgrows the CPU's fastest caches, and each record a pick reads on
// top of the ring's is a likely miss; keeping the rest (state, child
// picker, exitIdle) aside, and the counters in blocks, keeps a pick at
// 10,000 endpoints to the ring, this array and the counters.
type hotEndpoint struct {
	// sc is the SubConn of a READY endpoint, taken from its child's
	// picker when the picker is built (policy.SteadySubConn), so that a
	// pick need not call it. nil for an endpoint that is not READY, or
	// whose child's picker returned anything else (then it is called).
	sc  balancer.SubConn
	ctr *counter // calls in flight and its Done
	cw  float64  // loadFactor × weight
}

// pickEndpoint is the rest of an endpoint's state as of this picker.
type pickEndpoint struct {
	state    connectivity.State
	picker   balancer.Picker // the pick_first child's
	exitIdle func()          // asks the child to connect, without blocking
	kicked   atomic.Bool     // exitIdle already called through this picker
}

// newPicker returns a picker over the ring r of nodes (by ring index),
// with their current states.
func newPicker(cfg *Config, r *ring, nodes []*endpointInfo, total *atomic.Int64) *picker {
	p := &picker{
		ring:       r,
		hot:        make([]hotEndpoint, len(nodes)),
		eps:        make([]pickEndpoint, len(nodes)),
		total:      total,
		loadFactor: cfg.LoadFactor,
		header:     cfg.HashHeader,
	}
	if cfg.MissingKey == MissingKeyError {
		p.missingErr = missingKeyError(cfg.HashHeader)
	}
	for i, info := range nodes {
		e, h := &p.eps[i], &p.hot[i]
		e.state = info.state.ConnectivityState
		e.picker = info.state.Picker
		e.exitIdle = info.exitIdle
		h.ctr = info.ctr
		h.cw = cfg.LoadFactor * float64(info.weight)
		switch e.state {
		case connectivity.Ready:
			p.nReady++
			p.readyWeight += float64(info.weight)
			h.sc = policy.SteadySubConn(e.picker)
		case connectivity.Connecting, connectivity.Idle:
			p.waiting = true
		}
	}
	return p
}

// ready reports whether the endpoint of ring node index idx is READY.
func (p *picker) ready(idx int) bool {
	return p.hot[idx].sc != nil || p.eps[idx].state == connectivity.Ready
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	h, keyed := p.keyHash(info.Ctx)
	if !keyed {
		if p.missingErr != nil {
			return balancer.PickResult{}, p.missingErr
		}
		h = rand.Uint64()
	}
	r := p.ring
	i := r.search(h)
	if o := r.node(i); p.hot[o].sc == nil { // only then is the owner's state needed
		owner := &p.eps[o]
		if owner.state != connectivity.Ready && (keyed || p.nReady == 0) {
			p.kick(owner)
		}
		if p.nReady == 0 {
			if p.waiting {
				return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
			}
			// Every endpoint is in TRANSIENT_FAILURE: fail with the
			// owner's error, as ring_hash does.
			return owner.picker.Pick(info)
		}
	}

	bounded := p.loadFactor > 0
	var total int64
	if bounded {
		total = p.total.Load()
	}
	// Walk clockwise from the owner to the first READY endpoint with room.
	// A READY endpoint with room always exists when the counters are
	// consistent (the capacities add up to c × (total + 1) > total); the
	// fallback covers counters that moved under a concurrent pick.
	fallback := -1
	n := len(r.points)
	for range n {
		idx := r.node(i)
		if p.ready(idx) {
			if !bounded || p.hasRoom(&p.hot[idx], total) {
				return p.pickFrom(idx, info, bounded)
			}
			if fallback < 0 {
				fallback = idx
			}
		}
		if i++; i == n {
			i = 0
		}
	}
	return p.pickFrom(fallback, info, bounded)
}

// keyHash returns the hash of the call's key and whether it has one.
func (p *picker) keyHash(ctx context.Context) (uint64, bool) {
	if ctx == nil {
		return 0, false
	}
	if k := keyFromContext(ctx); k != "" {
		return xxhash.Sum64String(k), true
	}
	if p.header == "" {
		return 0, false
	}
	vals := metadata.ValueFromOutgoingContext(ctx, p.header)
	switch {
	case len(vals) == 0 || len(vals) == 1 && vals[0] == "":
		return 0, false
	case len(vals) == 1:
		return xxhash.Sum64String(vals[0]), true
	}
	// Same hash as the values joined by ",", without building the string.
	var d xxhash.Digest
	d.Reset()
	for i, v := range vals {
		if i > 0 {
			d.WriteString(",")
		}
		d.WriteString(v)
	}
	return d.Sum64(), true
}

// hasRoom reports whether e may take one more call when total calls are in
// flight: in-flight(e) + 1 <= ceil(c × (total + 1) × weight(e) / weight of
// READY endpoints). For an integer x and a real y, x + 1 <= ceil(y) if and
// only if x < y, so this is in-flight(e) × READY weight < c × weight(e) ×
// (total + 1), without a division.
func (p *picker) hasRoom(e *hotEndpoint, total int64) bool {
	return float64(e.ctr.n.Load())*p.readyWeight < e.cw*float64(total+1)
}

// pickFrom picks the connection of the endpoint of ring node index idx
// and, when loads are bounded, counts the call until its Done.
func (p *picker) pickFrom(idx int, info balancer.PickInfo, bounded bool) (balancer.PickResult, error) {
	h := &p.hot[idx]
	var res balancer.PickResult
	if h.sc != nil {
		res.SubConn = h.sc
	} else {
		var err error
		if res, err = p.eps[idx].picker.Pick(info); err != nil {
			return res, err
		}
	}
	if !bounded {
		return res, nil
	}
	h.ctr.n.Add(1)
	p.total.Add(1)
	if res.Done == nil {
		res.Done = h.ctr.done // made once per counter: no allocation
	} else {
		childDone, done := res.Done, h.ctr.done
		res.Done = func(di balancer.DoneInfo) {
			done(di)
			childDone(di)
		}
	}
	return res, nil
}

// kick asks an IDLE endpoint to connect, at most once per picker (a new
// picker comes with its next state change).
func (p *picker) kick(e *pickEndpoint) {
	if e.state == connectivity.Idle && e.exitIdle != nil && e.kicked.CompareAndSwap(false, true) {
		e.exitIdle()
	}
}
