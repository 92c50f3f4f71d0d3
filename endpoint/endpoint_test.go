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
