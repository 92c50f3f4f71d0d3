package slowstart

import (
	"time"

	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"

	"github.com/grpclb/grpclb/internal/epmap"
)

// Tracker remembers, for each endpoint of a balancer's set, when its ramp
// started, by the rule in the package documentation. It only records
// times: whether an endpoint still ramps, and by how much, is the Config's
// business, so a config change applies to ramps under way. The zero Tracker
// is ready for use; it is not safe for concurrent use (a balancer calls it
// under its lock). A policy over endpointsharding calls Update on every
// SubConn state change, with every endpoint: an Update allocates only its
// result and what new endpoints need (see epmap).
type Tracker struct {
	endpoints epmap.Map[*endpointRamp]
}

// endpointRamp is what a Tracker remembers of one endpoint.
type endpointRamp struct {
	start time.Time // when its ramp started; zero: never READY
	// failed is set when the endpoint is in TRANSIENT_FAILURE, and cleared
	// when it is READY again (and its ramp starts over).
	failed bool
}

// Update records the states of every endpoint in the balancer's set at now
// (endpointsharding's children, READY or not) and returns, for each child
// in order, when its ramp started: zero if it is not READY. An endpoint
// whose ramp starts now gets now. Endpoints that are not among children are
// forgotten.
func (t *Tracker) Update(now time.Time, children []endpointsharding.ChildState) []time.Time {
	starts := make([]time.Time, len(children))
	t.endpoints.Begin()
	for i, c := range children {
		slot, ok := t.endpoints.Keep(c.Endpoint)
		if !ok {
			*slot = &endpointRamp{}
		}
		r := *slot
		switch c.State.ConnectivityState {
		case connectivity.Ready:
			if r.start.IsZero() || r.failed {
				r.start, r.failed = now, false
			}
			starts[i] = r.start
		case connectivity.TransientFailure:
			r.failed = true
		}
	}
	t.endpoints.End()
	return starts
}
