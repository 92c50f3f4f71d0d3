// Package endpoint attaches the facts that balancers use to a
// resolver.Endpoint: its weight and the zone it runs in (the node, as the
// resolvers that know it land). Resolvers set them; balancers and grpclb's
// xDS server read them. Values are stored as endpoint attributes, so they survive the
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

type zoneKey struct{}

// WithZone returns ep in zone (a Kubernetes topology.kubernetes.io/zone, a
// cloud availability zone). "" removes the zone: ep's zone is unknown.
func WithZone(ep resolver.Endpoint, zone string) resolver.Endpoint {
	if zone == "" && ep.Attributes.Value(zoneKey{}) == nil {
		return ep
	}
	ep.Attributes = ep.Attributes.WithValue(zoneKey{}, zone)
	return ep
}

// Zone returns ep's zone, "" when it is unknown.
func Zone(ep resolver.Endpoint) string {
	z, _ := ep.Attributes.Value(zoneKey{}).(string)
	return z
}
