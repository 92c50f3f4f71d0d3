package xds

import (
	"context"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks log clients' streams and their NACKs, and give the zone of a
// node, or a node that takes subsets, its snapshot before the cache looks
// for it.
func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, typ string) error {
			s.log.Debug("xds: client stream opened", "stream", id, "type", typ)
			return nil
		},
		StreamClosedFunc: func(id int64, _ *corepb.Node) { s.streamClosed(id) },
		StreamRequestFunc: func(id int64, req *discoverypb.DiscoveryRequest) error {
			s.addZone(req.GetNode().GetLocality().GetZone())
			s.nodeStream(id, req.GetNode())
			if d := req.GetErrorDetail(); d != nil {
				s.log.Warn("xds: client rejected resources (NACK)", "stream", id,
					"node", req.GetNode().GetId(), "type", req.GetTypeUrl(),
					"version", req.GetVersionInfo(), "error", d.GetMessage())
			}
			return nil
		},
		DeltaStreamOpenFunc: func(_ context.Context, id int64, typ string) error {
			s.log.Debug("xds: client delta stream opened", "stream", id, "type", typ)
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, _ *corepb.Node) { s.streamClosed(id) },
		StreamDeltaRequestFunc: func(id int64, req *discoverypb.DeltaDiscoveryRequest) error {
			s.addZone(req.GetNode().GetLocality().GetZone())
			s.nodeStream(id, req.GetNode())
			if d := req.GetErrorDetail(); d != nil {
				s.log.Warn("xds: client rejected resources (NACK)", "stream", id,
					"node", req.GetNode().GetId(), "type", req.GetTypeUrl(), "error", d.GetMessage())
			}
			return nil
		},
	}
}
