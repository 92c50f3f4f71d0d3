package consul

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
)

func TestInstanceFromEntry(t *testing.T) {
	entry := func(nodeAddr, addr string, port int) *api.ServiceEntry {
		return &api.ServiceEntry{
			Node:    &api.Node{Node: "n", Address: nodeAddr, Datacenter: "dc1", Meta: map[string]string{"rack": "r1"}},
			Service: &api.AgentService{ID: "id", Service: "echo", Address: addr, Port: port, Tags: []string{"t"}, Meta: map[string]string{"zone": "a"}},
		}
	}
	for _, tc := range []struct {
		e       *api.ServiceEntry
		want    string
		wantErr string
	}{
		{e: entry("10.0.0.9", "10.0.0.1", 80), want: "10.0.0.1:80"},
		{e: entry("10.0.0.9", "", 80), want: "10.0.0.9:80"},
		{e: entry("10.0.0.9", "::ffff:10.0.0.1", 80), want: "10.0.0.1:80"},
		{e: entry("10.0.0.9", "2001:db8::1", 80), want: "[2001:db8::1]:80"},
		{e: entry("10.0.0.9", "echo.example", 443), want: "echo.example:443"},
		{e: entry("", "", 80), wantErr: "neither"},
		{e: entry("10.0.0.9", "10.0.0.1", 0), wantErr: "port 0"},
		{e: entry("10.0.0.9", "10.0.0.1", 65536), wantErr: "port 65536"},
		{e: entry("10.0.0.9", "bad host", 1), wantErr: "character"},
		{e: entry("10.0.0.9", "10.0.0.1:80", 1), wantErr: "not a host name"},
		{e: entry("10.0.0.9", "[::1]", 1), wantErr: "not a host name"},
		{e: entry("10.0.0.9", "a:b:c", 1), wantErr: "not a host name"},
		{e: entry("10.0.0.9", "fe80::1%eth0", 1), wantErr: "zone"},
		{e: &api.ServiceEntry{}, wantErr: "no service"},
		{e: nil, wantErr: "no service"},
	} {
		inst, err := instanceFromEntry(tc.e)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: err %v, want %q", tc.e, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.e, err)
			continue
		}
		if inst.Addr != tc.want || inst.Meta["zone"] != "a" || inst.NodeMeta["rack"] != "r1" || inst.Datacenter != "dc1" || inst.Tags[0] != "t" {
			t.Errorf("got %+v, want address %s", inst, tc.want)
		}
		ep := inst.endpoint()
		got, ok := InstanceFromEndpoint(ep)
		if !ok || !got.Equal(inst) || !inst.Equal(&got) {
			t.Errorf("InstanceFromEndpoint = %+v, %v", got, ok)
		}
		if !ep.Attributes.Equal(endpoint.WithZone(resolver.Endpoint{Attributes: attributes.New(instanceKey{}, &got)}, "a").Attributes) {
			t.Error("attributes of equal instances differ")
		}
		if z := endpoint.Zone(ep); z != "a" {
			t.Errorf("endpoint.Zone = %q, want the Meta zone %q", z, "a")
		}
	}
}

// FuzzInstanceFromEntry feeds garbage health entries, as a broken or
// hostile agent could send them (JSON of /v1/health/service), to the
// conversion: it never panics, and what it accepts has a host:port.
func FuzzInstanceFromEntry(f *testing.F) {
	f.Add([]byte(`{"Node":{"Node":"n1","Address":"10.0.0.1","Datacenter":"dc1"},"Service":{"ID":"echo-1","Service":"echo","Address":"","Port":50051,"Tags":["grpc"]}}`))
	f.Add([]byte(`{"Node":null,"Service":{"Port":70000}}`))
	f.Add([]byte(`{"Service":{"Address":"::1","Port":1,"TaggedAddresses":{"lan":{"Address":"x","Port":2}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e api.ServiceEntry
		if json.Unmarshal(data, &e) != nil {
			return
		}
		inst, err := instanceFromEntry(&e)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if _, _, err := net.SplitHostPort(inst.Addr); err != nil {
			t.Fatalf("accepted address %q: %v", inst.Addr, err)
		}
	})
}
