package resolvererr

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

func TestKeeper(t *testing.T) {
	some := resolver.State{Endpoints: []resolver.Endpoint{{Addresses: []resolver.Address{{Addr: "10.0.0.1:1"}}}}}
	gone := errors.New("service echo has no usable endpoint")
	tf := balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: base.NewErrPicker(errors.New("no children to pick from"))}
	tests := []struct {
		name  string
		steps func(k *Keeper)
		state balancer.State
		want  string // the picker's error
	}{
		{"nothing known", func(k *Keeper) {}, tf, "no children to pick from"},
		{"empty set, then the reason", func(k *Keeper) { k.Update(resolver.State{}); k.Error(gone) }, tf, "the resolver says: service echo has no usable endpoint"},
		{"a reason older than the empty set is not shown", func(k *Keeper) { k.Error(gone); k.Update(resolver.State{}) }, tf, "no children to pick from"},
		{"the latest reason", func(k *Keeper) { k.Update(resolver.State{}); k.Error(errors.New("old")); k.Error(gone) }, tf, "the resolver says: service echo has no usable endpoint"},
		{"a set with endpoints clears it", func(k *Keeper) { k.Update(resolver.State{}); k.Error(gone); k.Update(some) }, tf, "no children to pick from"},
		{"an error while endpoints exist is not shown", func(k *Keeper) { k.Update(some); k.Error(gone) }, tf, "no children to pick from"},
		{"only TRANSIENT_FAILURE is replaced", func(k *Keeper) { k.Update(resolver.State{}); k.Error(gone) },
			balancer.State{ConnectivityState: connectivity.Connecting, Picker: base.NewErrPicker(balancer.ErrNoSubConnAvailable)}, balancer.ErrNoSubConnAvailable.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k Keeper
			tt.steps(&k)
			_, err := k.State(tt.state).Picker.Pick(balancer.PickInfo{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("pick error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
