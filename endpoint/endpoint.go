// Package endpoint attaches the facts that balancers use to a
// resolver.Endpoint: a weight today, and where an endpoint runs (zone,
// node) as the resolvers that know it land. Resolvers set them; balancers
// read them. Values are stored as endpoint attributes, so they survive the
// trip through the channel to the balancer.
package endpoint

import (
	"google.golang.org/grpc/resolver"
)

type weightKey struct{}

// WithWeight returns ep with weight w (0 is stored as 1).
func WithWeight(ep resolver.Endpoint, w uint32) resolver.Endpoint {
	ep.Attributes = ep.Attributes.WithValue(weightKey{}, max(w, 1))
	return ep
}

// Weight returns ep's weight, 1 when none was set.
func Weight(ep resolver.Endpoint) uint32 {
	if w, ok := ep.Attributes.Value(weightKey{}).(uint32); ok && w > 0 {
		return w
	}
	return 1
}
