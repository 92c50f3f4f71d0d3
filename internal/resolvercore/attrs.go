package resolvercore

import (
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
)

// Endpoint is the endpoint of addr carrying v under key, for a balancer to
// read back with FromEndpoint.
func Endpoint[V any](addr string, key any, v *V) resolver.Endpoint {
	return resolver.Endpoint{
		Addresses:  []resolver.Address{{Addr: addr}},
		Attributes: attributes.New(key, v),
	}
}

// FromEndpoint returns a copy of the *V that ep carries under key, and
// whether it carries one.
func FromEndpoint[V any](ep resolver.Endpoint, key any) (V, bool) {
	v, ok := ep.Attributes.Value(key).(*V)
	if !ok {
		var zero V
		return zero, false
	}
	return *v, true
}
