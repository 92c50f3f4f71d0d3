package xds

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/grpclb/grpclb/balancer/subset"
)

// This file serves deterministic subsets (see "Subsetting" in the package
// documentation): each node gets a row of its own, and the rows follow the
// endpoints with subset.Repair, which moves the fewest memberships.

// Subset has each client of a service use only Size of its endpoints, and
// every endpoint be used by as many clients as every other (±1).
type Subset struct {
	// Size is how many endpoints each client gets (all of them when there
	// are no more). In [1, 10000].
	Size int `json:"size"`
	// Clients is how many clients share the endpoints: the fleet's size.
	// Each node that connects takes the lowest row not in use, and keeps
	// it while connected and for Options.NodeGrace after; nodes beyond
	// Clients share rows (node n uses row n mod Clients). In [1, 100000],
	// and Size × Clients at most 1,000,000.
	Clients int `json:"clients"`
}

func (s *Subset) validate() error {
	switch {
	case s.Size < 1 || s.Size > 10000:
		return fmt.Errorf("subset.size %d is not in [1, 10000]", s.Size)
	case s.Clients < 1 || s.Clients > 100000:
		return fmt.Errorf("subset.clients %d is not in [1, 100000]", s.Clients)
	case s.Size*s.Clients > 1_000_000:
		return fmt.Errorf("subset.size × subset.clients is %d × %d, more than 1000000", s.Size, s.Clients)
	}
	return nil
}

// DefaultNodeGrace is how long a node keeps its subset row after its last
// stream closed, unless Options.NodeGrace says otherwise: a client that
// restarts or reconnects within it gets its subset back.
const DefaultNodeGrace = time.Minute

// node is a client of a Server that serves subsets.
type node struct {
	row     int    // its row in each subsetted service's assignment
	zone    string // its locality's zone
	streams int    // open ADS streams
	release *time.Timer
}

// nodeKey is the snapshot key of the node called id.
func nodeKey(id string) string { return "node/" + id }

// subsetting reports whether a service of s serves subsets.
func (s *Server) subsetting() bool {
	return slices.ContainsFunc(s.services, func(svc Service) bool { return svc.Subset != nil })
}

// nodeStream notes that stream id of node n made a request: the first
// request of a node's stream gives the node a row and a snapshot of its
// own, before the cache looks for them.
func (s *Server) nodeStream(id streamKey, n *corepb.Node) {
	nodeID := n.GetId()
	if nodeID == "" || !s.subsets {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.streamNode[id] != "" {
		return
	}
	s.streamNode[id] = nodeID
	nd := s.nodes[nodeID]
	if nd == nil {
		nd = &node{row: s.freeRow(), zone: n.GetLocality().GetZone()}
		if err := s.setSnapshotLocked(nodeKey(nodeID), nd.zone, s.version, nd.row); err != nil {
			s.log.Error("xds: cannot set a node's snapshot; it gets every endpoint", "node", nodeID, "error", err)
			return
		}
		s.nodes[nodeID] = nd
		s.knownMu.Lock()
		s.known[nodeKey(nodeID)] = true
		s.knownMu.Unlock()
		s.log.Info("xds: node takes a subset row", "node", nodeID, "row", nd.row)
	}
	nd.streams++
	if nd.release != nil {
		nd.release.Stop()
		nd.release = nil
	}
}

// freeRow is the lowest row no node holds.
func (s *Server) freeRow() int {
	held := make([]bool, len(s.nodes))
	for _, nd := range s.nodes {
		if nd.row < len(held) {
			held[nd.row] = true
		}
	}
	if i := slices.Index(held, false); i >= 0 {
		return i
	}
	return len(held)
}

// streamClosed notes the end of stream id: when a node has no stream
// left, its row is released after the grace period unless it comes back.
func (s *Server) streamClosed(id streamKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nodeID, ok := s.streamNode[id]
	if !ok {
		return
	}
	delete(s.streamNode, id)
	nd := s.nodes[nodeID]
	if nd == nil {
		return
	}
	if nd.streams--; nd.streams > 0 || s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(s.nodeGrace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.nodes[nodeID] != nd || nd.release != t {
			return // back, or released already
		}
		delete(s.nodes, nodeID)
		s.knownMu.Lock()
		delete(s.known, nodeKey(nodeID))
		s.knownMu.Unlock()
		s.cache.ClearSnapshot(nodeKey(nodeID))
		s.log.Info("xds: node gone; its subset row is free", "node", nodeID, "row", nd.row)
	})
	nd.release = t
}

// resubsetLocked recomputes service svc's rows for its endpoints locs,
// from its previous rows, and returns how many memberships changed.
func (s *Server) resubsetLocked(svc Service, locs []locality) (changed int) {
	var keys []string
	for _, l := range locs {
		for _, ep := range l.eps {
			keys = append(keys, endpointKey(ep))
		}
	}
	prev := s.rows[svc.Name]
	if prev == nil {
		prev = make([][]string, svc.Subset.Clients)
	}
	rows := subset.Repair(prev, keys, svc.Subset.Size)
	for c := range rows {
		for _, k := range rows[c] {
			if !slices.Contains(prev[c], k) {
				changed++
			}
		}
	}
	s.rows[svc.Name] = rows
	return changed
}

// subsetOf returns locs with only the endpoints of row of svc's
// assignment; localities left empty are dropped.
func (s *Server) subsetOf(svc Service, locs []locality, row int) []locality {
	rows := s.rows[svc.Name]
	if len(rows) == 0 {
		return locs
	}
	keep := rows[row%len(rows)]
	var out []locality
	for _, l := range locs {
		var eps []*endpointpb.LbEndpoint
		for _, ep := range l.eps {
			if slices.Contains(keep, endpointKey(ep)) {
				eps = append(eps, ep)
			}
		}
		if len(eps) > 0 {
			out = append(out, locality{zone: l.zone, eps: eps})
		}
	}
	return out
}

// endpointKey names an endpoint in subset rows: its first address.
func endpointKey(ep *endpointpb.LbEndpoint) string {
	sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}
