package xds_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/xds"
)

// NewServer refuses an invalid config and a target its resolver refuses,
// naming the service.
func TestNewServerErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     xds.Config
		wantErr string
	}{
		{"invalid config", xds.Config{}, "no services"},
		{"resolver refuses the target", xds.Config{Services: []xds.Service{
			{Name: "good", Target: "static:///127.0.0.1:1"},
			{Name: "bad", Target: "static:///127.0.0.1"},
		}}, `service "bad": resolver for "static:///127.0.0.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := xds.NewServer(tt.cfg, xds.Options{Logger: testLogger(t)})
			if err == nil {
				s.Close()
				t.Fatalf("NewServer: no error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewServer: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// A resolver update of 1000 endpoints becomes a snapshot in a few
// milliseconds (logged: the time of UpdateState, from the resolver's call
// to the snapshot set, with no client watching).
func TestSnapshotTime1000Endpoints(t *testing.T) {
	const n, rounds = 1000, 20
	sets := [2]resolver.State{}
	for k := range sets {
		for i := range n {
			addr := fmt.Sprintf("10.%d.%d.%d:50051", k, i/250, i%250+1)
			sets[k].Endpoints = append(sets[k].Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}})
		}
	}
	src, target := source(t, "large", sets[0])
	srv, err := xds.NewServer(xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}}, xds.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var took []time.Duration
	for i := range rounds {
		v := srv.Version()
		start := time.Now()
		src.UpdateState(sets[(i+1)%2])
		took = append(took, time.Since(start))
		if got := srv.Version(); got != v+1 {
			t.Fatalf("round %d: version %d, want %d", i, got, v+1)
		}
	}
	slices.Sort(took)
	t.Logf("snapshot of %d endpoints, %d rounds: median %v, max %v", n, rounds, took[rounds/2], took[rounds-1])
}
