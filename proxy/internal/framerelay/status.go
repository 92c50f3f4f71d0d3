package framerelay

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/grpclb/grpclb/endpoint"
)

// ClusterState is a cluster as the relay sees it.
type ClusterState struct {
	Name   string
	Target string
	// State is its policy's: READY while it has a backend to offer.
	State connectivity.State
	// Endpoints are the addresses the resolver last published, and any
	// other a SubConn of the policy still has, by address.
	Endpoints []EndpointState
	// ResolverError is the resolver's last error, until it publishes
	// again.
	ResolverError error
	// UnreachedAt is when a call last found no backend, and Unreached
	// why (the policy's error); zero if none did.
	UnreachedAt time.Time
	Unreached   string
}

// EndpointState is one address of a cluster.
type EndpointState struct {
	Address string
	// Weight is the resolver's (1 when none; 0 for an address only a
	// SubConn still has).
	Weight uint32
	// State is the most usable state of its SubConns (READY, then
	// CONNECTING, IDLE, TRANSIENT_FAILURE); SubConns counts them, 0 while
	// the policy has made none (pick_first tries one address at a time),
	// and State is SHUTDOWN then.
	State    connectivity.State
	SubConns int
	// InFlight counts the calls (and hedged attempts) on it now,
	// including those finishing on a connection the policy has shut down
	// or a GOAWAY detached.
	InFlight int64
}

// Clusters returns the relay's clusters, in the order of their first
// route.
func (r *Relay) Clusters() []ClusterState {
	clusters := r.table.Load().clusters
	out := make([]ClusterState, 0, len(clusters))
	for _, cl := range clusters {
		out = append(out, cl.status())
	}
	return out
}

// stateRank orders states from the most usable.
var stateRank = map[connectivity.State]int{connectivity.Ready: 0, connectivity.Connecting: 1, connectivity.Idle: 2, connectivity.TransientFailure: 3, connectivity.Shutdown: 4}

func (c *cluster) status() ClusterState {
	cs := ClusterState{Name: c.name, Target: c.target, State: connectivity.State(c.state.Load())}
	c.emu.Lock()
	cs.ResolverError, cs.UnreachedAt, cs.Unreached = c.resolveErr, c.unreachedAt, c.unreachedBy
	byAddr := map[string]*EndpointState{}
	add := func(addr string, weight uint32) *EndpointState {
		if e := byAddr[addr]; e != nil {
			return e
		}
		e := &EndpointState{Address: addr, Weight: weight, State: connectivity.Shutdown}
		byAddr[addr] = e
		return e
	}
	for _, ep := range c.eps {
		for _, a := range ep.Addresses {
			add(a.Addr, endpoint.Weight(ep))
		}
	}
	subs := slices.Collect(maps.Keys(c.subs))
	gone := slices.Collect(maps.Keys(c.gone))
	c.emu.Unlock()
	for _, sc := range subs {
		e := add(sc.addr, 0)
		sc.mu.Lock()
		st := sc.state
		sc.mu.Unlock()
		if e.SubConns == 0 || stateRank[st] < stateRank[e.State] {
			e.State = st
		}
		e.SubConns++
		e.InFlight += sc.inFlight()
	}
	// A SubConn the policy shut down (its endpoint left the resolver's
	// set) still has the calls that were running on it: its address shows
	// with them, and no SubConn, until they end.
	for sc, n := range c.forgetEnded(gone) {
		add(sc.addr, 0).InFlight += n
	}
	for _, e := range byAddr {
		cs.Endpoints = append(cs.Endpoints, *e)
	}
	slices.SortFunc(cs.Endpoints, func(a, b EndpointState) int { return cmp.Compare(a.Address, b.Address) })
	return cs
}

// Ready reports whether the relay takes calls: it is not draining and a
// cluster is READY; if not, why not.
func (r *Relay) Ready() (bool, string) {
	r.mu.Lock()
	draining := r.draining || r.closed
	r.mu.Unlock()
	if draining {
		return false, "draining"
	}
	var states []string
	for _, cs := range r.Clusters() {
		if cs.State == connectivity.Ready {
			return true, "ready"
		}
		states = append(states, cs.Name+" "+cs.State.String())
	}
	return false, "no cluster has a healthy upstream (" + strings.Join(states, ", ") + ")"
}

// Usage is what the relay's clients use of it.
type Usage struct {
	// Connections is the client connections open now, Refused those
	// closed as soon as accepted since the relay started, because
	// Limits.MaxConnections were open.
	Connections, Refused int64
	// BufferedBytes is the bytes the relay holds now, sent to it and not
	// yet written on (queued for a peer without window, or held for a
	// call waiting for a backend).
	BufferedBytes int64
	// LentBytes is the part of MaxBufferedBytes (Limits) lent out now:
	// connection window given to peers beyond the free initial 64 KiB,
	// which bounds what they can make the relay hold.
	LentBytes, MaxBufferedBytes int64
}

// Usage returns what the relay's clients use of it now.
func (r *Relay) Usage() Usage {
	return Usage{
		Connections:      min(r.clientCount.Load(), int64(r.limits.MaxConnections)),
		Refused:          r.refusedCount.Load(),
		BufferedBytes:    r.heldBytes(),
		LentBytes:        r.budget.Used(),
		MaxBufferedBytes: r.budget.max,
	}
}

// heldBytes is what the relay holds now: data queued for peers that have
// no window, and data held for calls waiting for a backend. It walks
// every connection's queues: for scrapes, not hot paths.
func (r *Relay) heldBytes() int64 {
	r.mu.Lock()
	conns := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	var n int64
	for _, c := range conns {
		c.mu.Lock()
		for _, h := range c.blocked {
			for _, it := range h.queue {
				n += int64(len(it.data))
			}
		}
		c.mu.Unlock()
	}
	for _, c := range r.clientConns() {
		c.lmu.Lock()
		links := make([]*link, 0, len(c.live))
		for _, l := range c.live {
			links = append(links, l)
		}
		c.lmu.Unlock()
		for _, l := range links {
			if w := l.wait; w != nil {
				w.mu.Lock()
				n += w.size
				w.mu.Unlock()
			}
		}
	}
	return n
}
