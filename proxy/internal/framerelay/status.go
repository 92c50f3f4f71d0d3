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
	out := make([]ClusterState, 0, len(r.clusters))
	for _, cl := range r.clusters {
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
