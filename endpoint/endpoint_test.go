package endpoint

import (
	"testing"

	"google.golang.org/grpc/resolver"
)

func TestWeight(t *testing.T) {
	ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: "10.0.0.1:80"}}}
	tests := []struct {
		name string
		ep   resolver.Endpoint
		want uint32
	}{
		{"unset", ep, 1},
		{"set", WithWeight(ep, 7), 7},
		{"zero is one", WithWeight(ep, 0), 1},
		{"last wins", WithWeight(WithWeight(ep, 3), 9), 9},
	}
	for _, tt := range tests {
		if got := Weight(tt.ep); got != tt.want {
			t.Errorf("%s: Weight = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestZone(t *testing.T) {
	ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: "10.0.0.1:80"}}}
	tests := []struct {
		name string
		ep   resolver.Endpoint
		want string
	}{
		{"unset", ep, ""},
		{"set", WithZone(ep, "eu-west-1a"), "eu-west-1a"},
		{"empty stays unknown", WithZone(ep, ""), ""},
		{"empty clears", WithZone(WithZone(ep, "a"), ""), ""},
		{"last wins", WithZone(WithZone(ep, "a"), "b"), "b"},
		{"beside a weight", WithWeight(WithZone(ep, "a"), 5), "a"},
	}
	for _, tt := range tests {
		if got := Zone(tt.ep); got != tt.want {
			t.Errorf("%s: Zone = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Weight(WithZone(WithWeight(ep, 5), "a")); got != 5 {
		t.Errorf("Weight after WithZone = %d, want 5", got)
	}
	if WithZone(ep, "").Attributes != nil {
		t.Error("WithZone(ep, \"\") on an endpoint without a zone added an attribute")
	}
}
