package xds_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/xds"
)

// Bootstrap writes the JSON gRPC clients read. (grpc-go parses it in
// every end-to-end test: dial uses it.)
func TestBootstrap(t *testing.T) {
	tests := []struct {
		name, addr, node, zone string
		wantZone               any // nil: an empty locality (grpc-js-xds needs one)
	}{
		{name: "with zone", addr: "127.0.0.1:18000", node: "n1", zone: "eu-west-1a", wantZone: "eu-west-1a"},
		{name: "without zone", addr: "xds.internal:18000", node: "n2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := xds.Bootstrap(tt.addr, tt.node, tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				XDSServers []struct {
					ServerURI      string           `json:"server_uri"`
					ChannelCreds   []map[string]any `json:"channel_creds"`
					ServerFeatures []string         `json:"server_features"`
				} `json:"xds_servers"`
				Node map[string]any `json:"node"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if len(got.XDSServers) != 1 {
				t.Fatalf("xds_servers = %+v, want one", got.XDSServers)
			}
			s := got.XDSServers[0]
			if s.ServerURI != tt.addr || !reflect.DeepEqual(s.ChannelCreds, []map[string]any{{"type": "insecure"}}) || !reflect.DeepEqual(s.ServerFeatures, []string{"xds_v3"}) {
				t.Errorf("xds_servers[0] = %+v", s)
			}
			if got.Node["id"] != tt.node {
				t.Errorf("node.id = %v, want %q", got.Node["id"], tt.node)
			}
			loc, ok := got.Node["locality"].(map[string]any)
			if !ok || tt.wantZone == nil && len(loc) != 0 || tt.wantZone != nil && loc["zone"] != tt.wantZone {
				t.Errorf("node.locality = %v, want zone %v", got.Node["locality"], tt.wantZone)
			}
		})
	}
}

// Bootstrap refuses a server address without a port and an empty node ID.
func TestBootstrapErrors(t *testing.T) {
	tests := []struct{ addr, node, wantErr string }{
		{"127.0.0.1", "n", `server address "127.0.0.1" is not host:port`},
		{"", "n", `server address ""`},
		{"127.0.0.1:18000", "", "empty node ID"},
	}
	for _, tt := range tests {
		if _, err := xds.Bootstrap(tt.addr, tt.node, ""); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Bootstrap(%q, %q): %v, want an error with %q", tt.addr, tt.node, err, tt.wantErr)
		}
	}
}
