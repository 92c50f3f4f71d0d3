package xds

import (
	"cmp"
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
	if nodeID == "" || !s.anySubset {
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
		nd = &node{row: s.takeRow(), zone: n.GetLocality().GetZone()}
		if err := s.setSnapshotLocked(nodeKey(nodeID), nd.zone, s.version, nd.row); err != nil {
			s.releaseRow(nd.row)
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

// takeRow takes the lowest row no node holds.
func (s *Server) takeRow() int {
	for s.lowestFree < len(s.held) && s.held[s.lowestFree] {
		s.lowestFree++
	}
	row := s.lowestFree
	if row == len(s.held) {
		s.held = append(s.held, true)
	} else {
		s.held[row] = true
	}
	s.lowestFree++
	return row
}

// releaseRow gives row back.
func (s *Server) releaseRow(row int) {
	s.held[row] = false
	s.lowestFree = min(s.lowestFree, row)
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
		s.releaseRow(nd.row)
		s.knownMu.Lock()
		delete(s.known, nodeKey(nodeID))
		s.knownMu.Unlock()
		s.cache.ClearSnapshot(nodeKey(nodeID))
		s.log.Info("xds: node gone; its subset row is free", "node", nodeID, "row", nd.row)
	})
	nd.release = t
}

// subsetRows is a subsetted service's assignment: each row's endpoint
// keys, and where each endpoint is in the service's localities.
type subsetRows struct {
	rows  [][]string
	where map[string]endpointAt
}

// endpointAt places an endpoint: locs[loc].eps[i].
type endpointAt struct{ loc, i int }

// resubsetLocked recomputes service svc's rows for its endpoints locs,
// from its previous rows, and returns how many memberships changed.
func (s *Server) resubsetLocked(svc Service, locs []locality) (changed int) {
	next := &subsetRows{where: map[string]endpointAt{}}
	var keys []string
	for li, l := range locs {
		for i, ep := range l.eps {
			k := endpointKey(ep)
			keys = append(keys, k)
			next.where[k] = endpointAt{li, i}
		}
	}
	prev := make([][]string, svc.Subset.Clients)
	if old := s.rows[svc.Name]; old != nil {
		prev = old.rows
	}
	next.rows = subset.Repair(prev, keys, svc.Subset.Size)
	for c, row := range next.rows {
		for _, k := range row {
			if !slices.Contains(prev[c], k) {
				changed++
			}
		}
	}
	s.rows[svc.Name] = next
	return changed
}

// subsetOf returns locs, the endpoints resubsetLocked last saw, with only
// the endpoints of row of svc's assignment, in their order; localities
// left empty are dropped. It costs O(Size log Size), however many
// endpoints and nodes there are.
func (s *Server) subsetOf(svc Service, locs []locality, row int) []locality {
	a := s.rows[svc.Name]
	if a == nil || len(a.rows) == 0 {
		return locs
	}
	keep := a.rows[row%len(a.rows)]
	at := make([]endpointAt, 0, len(keep))
	for _, k := range keep {
		if e, ok := a.where[k]; ok {
			at = append(at, e)
		}
	}
	slices.SortFunc(at, func(x, y endpointAt) int { return cmp.Or(cmp.Compare(x.loc, y.loc), cmp.Compare(x.i, y.i)) })
	var out []locality
	for _, e := range at {
		if len(out) == 0 || out[len(out)-1].zone != locs[e.loc].zone {
			out = append(out, locality{zone: locs[e.loc].zone})
		}
		out[len(out)-1].eps = append(out[len(out)-1].eps, locs[e.loc].eps[e.i])
	}
	return out
}

// endpointKey names an endpoint in subset rows: its first address.
func endpointKey(ep *endpointpb.LbEndpoint) string {
	sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}
