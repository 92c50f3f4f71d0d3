package xds

import (
	"cmp"
	"math"
	"slices"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// This file places a service's endpoints in localities, one per zone, and
// gives each locality its priority for a client in a given zone: the rule
// doc.go describes under "Zones".

// locality is the endpoints of one zone ("" for endpoints whose zone is
// unknown).
type locality struct {
	zone string
	eps  []*endpointpb.LbEndpoint
}

// byZone groups eps (parallel to zones) into localities, sorted by zone;
// within a locality the endpoints keep their order.
func byZone(eps []*endpointpb.LbEndpoint, zones []string) []locality {
	var locs []locality
	for i, ep := range eps {
		j := slices.IndexFunc(locs, func(l locality) bool { return l.zone == zones[i] })
		if j < 0 {
			locs = append(locs, locality{zone: zones[i]})
			j = len(locs) - 1
		}
		locs[j].eps = append(locs[j].eps, ep)
	}
	slices.SortStableFunc(locs, func(a, b locality) int { return cmp.Compare(a.zone, b.zone) })
	return locs
}

// sameLocalities reports whether a and b hold the same endpoints in the
// same zones.
func sameLocalities(a, b []locality) bool {
	return slices.EqualFunc(a, b, func(x, y locality) bool {
		return x.zone == y.zone && slices.EqualFunc(x.eps, y.eps, func(p, q *endpointpb.LbEndpoint) bool { return proto.Equal(p, q) })
	})
}

// count returns the number of endpoints in zone.
func count(locs []locality, zone string) int {
	for _, l := range locs {
		if l.zone == zone {
			return len(l.eps)
		}
	}
	return 0
}

// preferZone reports whether a client in clientZone gets s's endpoints of
// its zone at priority 0 and the others at priority 1: s is zone-aware,
// the client has a zone and that zone has at least s's minimum of
// endpoints. Otherwise every locality is at priority 0 (spill-over).
func preferZone(s Service, locs []locality, clientZone string) bool {
	return clientZone != "" && s.zoneAware() && count(locs, clientZone) >= s.minZoneEndpoints()
}

// assignment is the ClusterLoadAssignment of service s with locs, as a
// client in clientZone ("" for none) gets it. Each locality weighs the sum
// of its endpoints' weights, so that calls spread over the endpoints of a
// priority, not over its zones, whatever their sizes.
func assignment(s Service, locs []locality, clientZone string) *endpointpb.ClusterLoadAssignment {
	cla := &endpointpb.ClusterLoadAssignment{ClusterName: s.Name}
	prefer := preferZone(s, locs, clientZone)
	// grpc-go refuses localities of one priority whose weights sum over
	// MaxUint32: cap each at its share.
	limit := uint64(math.MaxUint32)
	if len(locs) > 0 {
		limit /= uint64(len(locs))
	}
	for _, l := range locs {
		var w uint64
		for _, ep := range l.eps {
			w += uint64(ep.GetLoadBalancingWeight().GetValue())
		}
		var priority uint32
		if prefer && l.zone != clientZone {
			priority = 1
		}
		cla.Endpoints = append(cla.Endpoints, &endpointpb.LocalityLbEndpoints{
			Locality:            &corepb.Locality{Zone: l.zone},
			LbEndpoints:         l.eps,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(max(min(w, limit), 1))),
			Priority:            priority,
		})
	}
	return cla
}
