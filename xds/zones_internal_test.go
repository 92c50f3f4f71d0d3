package xds

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/endpoint"
)

// zonedState is a resolver state with one endpoint per "zone:weight"
// spec, on consecutive ports.
func zonedState(specs ...string) resolver.State {
	var s resolver.State
	for i, spec := range specs {
		zone, weight, _ := strings.Cut(spec, ":")
		w, _ := strconv.Atoi(weight)
		ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: fmt.Sprintf("10.0.0.1:%d", 1000+i)}}}
		s.Endpoints = append(s.Endpoints, endpoint.WithWeight(endpoint.WithZone(ep, zone), uint32(w)))
	}
	return s
}

// placed renders a ClusterLoadAssignment as "zone/priority/weight/n" per
// locality, "-" for the zone "".
func placed(cla *endpointpb.ClusterLoadAssignment) []string {
	var out []string
	for _, l := range cla.GetEndpoints() {
		z := l.GetLocality().GetZone()
		if z == "" {
			z = "-"
		}
		out = append(out, fmt.Sprintf("%s/%d/%d/%d", z, l.GetPriority(), l.GetLoadBalancingWeight().GetValue(), len(l.GetLbEndpoints())))
	}
	return out
}

// The priorities a client in each zone gets: its zone first when it has
// enough endpoints, else everything at priority 0 (spill-over); each
// locality weighs the sum of its endpoints' weights.
func TestAssignmentPriorities(t *testing.T) {
	off := false
	twoZones := zonedState("a:1", "b:1", "a:1", "b:2", ":1")
	tests := []struct {
		name       string
		svc        Service
		state      resolver.State
		clientZone string
		want       []string
	}{
		{"client without a zone", Service{}, twoZones, "", []string{"-/0/1/1", "a/0/2/2", "b/0/3/2"}},
		{"client in zone a", Service{}, twoZones, "a", []string{"-/1/1/1", "a/0/2/2", "b/1/3/2"}},
		{"client in zone b", Service{}, twoZones, "b", []string{"-/1/1/1", "a/1/2/2", "b/0/3/2"}},
		{"client in a zone without endpoints", Service{}, twoZones, "c", []string{"-/0/1/1", "a/0/2/2", "b/0/3/2"}},
		{"zone at the minimum", Service{MinZoneEndpoints: 2}, twoZones, "a", []string{"-/1/1/1", "a/0/2/2", "b/1/3/2"}},
		{"zone under the minimum spills over", Service{MinZoneEndpoints: 3}, twoZones, "a", []string{"-/0/1/1", "a/0/2/2", "b/0/3/2"}},
		{"zoneAware false", Service{ZoneAware: &off}, twoZones, "a", []string{"-/0/1/1", "a/0/2/2", "b/0/3/2"}},
		{"every endpoint in the client's zone", Service{}, zonedState("a:1", "a:4"), "a", []string{"a/0/5/2"}},
		{"endpoints without zones", Service{}, zonedState(":1", ":1"), "a", []string{"-/0/2/2"}},
		{"no endpoints", Service{}, resolver.State{}, "a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.Name = "svc"
			locs, _, skipped := lbEndpoints(tt.state)
			if len(skipped) > 0 {
				t.Fatal(skipped)
			}
			if got := placed(assignment(tt.svc, locs, tt.clientZone)); !slices.Equal(got, tt.want) {
				t.Errorf("localities (zone/priority/weight/endpoints) %q, want %q", got, tt.want)
			}
		})
	}
}

// endpointSnapshot returns the zones and priorities of svc's assignment
// in the snapshot key, and the snapshot's endpoint version.
func endpointSnapshot(t *testing.T, s *Server, key string) ([]string, string) {
	t.Helper()
	snap, err := s.cache.GetSnapshot(key)
	if err != nil {
		t.Fatalf("snapshot %q: %v", key, err)
	}
	res := snap.GetResources(resourcev3.EndpointType)
	cla, ok := res["svc"].(*endpointpb.ClusterLoadAssignment)
	if !ok {
		t.Fatalf("snapshot %q has no assignment for svc: %v", key, res)
	}
	return placed(cla), snap.GetVersion(resourcev3.EndpointType)
}

// A zone's snapshot exists once a node of the zone asks, and every update
// rebuilds it; the node hash sends a node to its zone's snapshot, and a
// node without a zone, or of a zone past maxZones, to the plain one.
func TestZoneSnapshots(t *testing.T) {
	s, err := NewServer(Config{Services: []Service{{Name: "svc", Target: "static:///127.0.0.1:1"}}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hash := nodeZone{s}
	node := func(zone string) *corepb.Node {
		return &corepb.Node{Id: "n", Locality: &corepb.Locality{Zone: zone}}
	}
	if got := hash.ID(node("a")); got != snapshotKey {
		t.Errorf("node of zone a before its first request: key %q, want %q", got, snapshotKey)
	}
	if _, _, err := s.update("svc", mustLocalities(t, zonedState("a:1", "b:1"))); err != nil {
		t.Fatal(err)
	}
	v := s.Version()

	s.addZone("a")
	if got := hash.ID(node("a")); got != zoneKey("a") {
		t.Errorf("node of zone a: key %q, want %q", got, zoneKey("a"))
	}
	if got, ver := endpointSnapshot(t, s, zoneKey("a")); !slices.Equal(got, []string{"a/0/1/1", "b/1/1/1"}) || ver != fmt.Sprint(v) {
		t.Errorf("zone a's first snapshot: %q version %s, want a at 0, b at 1, version %d", got, ver, v)
	}
	if s.Version() != v {
		t.Errorf("a new zone changed the version: %d, want %d", s.Version(), v)
	}

	if _, _, err := s.update("svc", mustLocalities(t, zonedState("a:1", "b:1", "b:1"))); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{
		snapshotKey:  {"a/0/1/1", "b/0/2/2"},
		zoneKey("a"): {"a/0/1/1", "b/1/2/2"},
	} {
		if got, ver := endpointSnapshot(t, s, key); !slices.Equal(got, want) || ver != fmt.Sprint(v+1) {
			t.Errorf("snapshot %q after an update: %q version %s, want %q version %d", key, got, ver, want, v+1)
		}
	}

	if got := hash.ID(node("")); got != snapshotKey {
		t.Errorf("node without a zone: key %q, want %q", got, snapshotKey)
	}
	for i := range maxZones {
		s.addZone(fmt.Sprintf("z%d", i))
	}
	if got := hash.ID(node(fmt.Sprintf("z%d", maxZones-1))); got != snapshotKey {
		t.Errorf("node of a zone past maxZones: key %q, want %q", got, snapshotKey)
	}
}

func mustLocalities(t *testing.T, st resolver.State) []locality {
	t.Helper()
	locs, _, skipped := lbEndpoints(st)
	if len(skipped) > 0 {
		t.Fatal(skipped)
	}
	return locs
}
