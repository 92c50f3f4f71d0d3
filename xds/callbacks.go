package xds

import (
	"context"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

// callbacks log clients' streams and their NACKs, and give the zone of a
// node, or a node that takes subsets, its snapshot before the cache looks
// for it.
func (s *Server) callbacks() serverv3.Callbacks {
	opened := func(delta bool) func(context.Context, int64, string) error {
		return func(_ context.Context, id int64, typ string) error {
			s.log.Debug("xds: client stream opened", "stream", id, "delta", delta, "type", typ)
			return nil
		}
	}
	return serverv3.CallbackFuncs{
		StreamOpenFunc:        opened(false),
		DeltaStreamOpenFunc:   opened(true),
		StreamClosedFunc:      func(id int64, _ *corepb.Node) { s.streamClosed(streamKey{false, id}) },
		DeltaStreamClosedFunc: func(id int64, _ *corepb.Node) { s.streamClosed(streamKey{true, id}) },
		StreamRequestFunc: func(id int64, req *discoverypb.DiscoveryRequest) error {
			s.request(streamKey{false, id}, req.GetNode(), req.GetTypeUrl(), req.GetErrorDetail())
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, req *discoverypb.DeltaDiscoveryRequest) error {
			s.request(streamKey{true, id}, req.GetNode(), req.GetTypeUrl(), req.GetErrorDetail())
			return nil
		},
	}
}

// streamKey names a client's stream: state-of-the-world and delta streams
// are numbered apart.
type streamKey struct {
	delta bool
	id    int64
}

// request handles a request of stream st from node: the node's zone and
// subset row get their snapshots, and a NACK is logged.
func (s *Server) request(st streamKey, node *corepb.Node, typeURL string, nack *statuspb.Status) {
	s.addZone(node.GetLocality().GetZone())
	s.nodeStream(st, node)
	if nack != nil {
		s.log.Warn("xds: client rejected resources (NACK)", "stream", st.id, "delta", st.delta,
			"node", node.GetId(), "type", typeURL, "error", nack.GetMessage())
	}
}
