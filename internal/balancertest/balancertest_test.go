package balancertest

import (
	"testing"

	"context"
	"google.golang.org/grpc/balancer"
	_ "google.golang.org/grpc/balancer/leastrequest"
	_ "google.golang.org/grpc/balancer/ringhash"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/metadata"
)

// The harness builds grpc-go's own policies and their pickers reach every
// endpoint.
func TestBuildsGRPCPolicies(t *testing.T) {
	tests := []struct{ name, config string }{
		{roundrobin.Name, ""},
		{"least_request_experimental", `{"choiceCount":2}`},
		{"ring_hash_experimental", `{"requestHashHeader":"x-key"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, p, err := Build(tt.name, tt.config, Endpoints(10))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			seen := map[string]bool{}
			for i := range 2000 {
				ctx := metadata.AppendToOutgoingContext(context.Background(), "x-key", string(rune('a'+i%26))+string(rune('a'+i/26%26)))
				res, err := p.Pick(balancer.PickInfo{Ctx: ctx, FullMethodName: "/s/m"})
				if err != nil {
					t.Fatal(err)
				}
				seen[res.SubConn.(*SubConn).Addrs[0].Addr] = true
				if res.Done != nil {
					res.Done(balancer.DoneInfo{})
				}
			}
			if len(seen) != 10 {
				t.Errorf("picks reached %d of 10 endpoints", len(seen))
			}
		})
	}
}
