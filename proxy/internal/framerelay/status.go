package framerelay

import (
	"strings"

	"google.golang.org/grpc/connectivity"
)

// ClusterState is a cluster as the relay sees it.
type ClusterState struct {
	Name   string
	Target string
	// State is its policy's: READY while it has a backend to offer.
	State connectivity.State
}

// Clusters returns the relay's clusters, in the order of their first
// route.
func (r *Relay) Clusters() []ClusterState {
	clusters := r.table.Load().clusters
	out := make([]ClusterState, 0, len(clusters))
	for _, cl := range clusters {
		out = append(out, ClusterState{Name: cl.name, Target: cl.target, State: connectivity.State(cl.state.Load())})
	}
	return out
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
