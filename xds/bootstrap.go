package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
)

// Bootstrap returns the bootstrap JSON (gRFC A27) a gRPC client needs to
// reach a Server at serverAddr (host:port) as node nodeID in zone (may be
// ""): put it in the file GRPC_XDS_BOOTSTRAP names, or in
// GRPC_XDS_BOOTSTRAP_CONFIG. The channel to the server is insecure (no
// TLS), and speaks xDS v3.
func Bootstrap(serverAddr, nodeID, zone string) ([]byte, error) {
	if _, _, err := net.SplitHostPort(serverAddr); err != nil {
		return nil, fmt.Errorf("xds: bootstrap: server address %q is not host:port: %w", serverAddr, err)
	}
	if nodeID == "" {
		return nil, errors.New("xds: bootstrap: empty node ID")
	}
	type channelCreds struct {
		Type string `json:"type"`
	}
	type server struct {
		ServerURI      string         `json:"server_uri"`
		ChannelCreds   []channelCreds `json:"channel_creds"`
		ServerFeatures []string       `json:"server_features"`
	}
	// The locality is always there, empty without a zone: grpc-js-xds
	// refuses a node without one ("locality field missing in node
	// element").
	type locality struct {
		Zone string `json:"zone,omitempty"`
	}
	type node struct {
		ID       string   `json:"id"`
		Locality locality `json:"locality"`
	}
	b := struct {
		XDSServers []server `json:"xds_servers"`
		Node       node     `json:"node"`
	}{
		XDSServers: []server{{
			ServerURI:      serverAddr,
			ChannelCreds:   []channelCreds{{Type: "insecure"}},
			ServerFeatures: []string{"xds_v3"},
		}},
		Node: node{ID: nodeID},
	}
	b.Node.Locality.Zone = zone
	return json.MarshalIndent(b, "", "  ")
}
