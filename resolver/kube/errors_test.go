package kube

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb"
	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/outlier"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
	_ "github.com/grpclb/grpclb/balancer/subset"
	_ "github.com/grpclb/grpclb/balancer/wrr"
	"github.com/grpclb/grpclb/internal/itest/kubetest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// testErrorsReachCallers: a target naming a port no slice has (a typo in
// the port name) fails calls with the resolver's message, under every
// policy, not with "no children to pick from": until a set has ever been
// published the resolver reports its error alone, and grpc-go hands that
// to callers whatever the policy.
func testErrorsReachCallers(t *testing.T, api *kubetest.Server) {
	w := newWorld(t, api, 2)
	w.put("typo", "typo-a", w.eps(w.fleet.Backends()...)...)
	const want = `has no usable endpoint for port nosuch`
	policies := []struct{ name, config string }{
		{"round_robin", `{"round_robin":{}}`},
		{"pick_first", `{"pick_first":{}}`},
		{"p2c_ewma", `{"p2c_ewma":{}}`},
		{"consistent_hash", `{"consistent_hash":{}}`},
		{"wrr", `{"wrr":{}}`},
		{"outlier_ejection", `{"outlier_ejection":{"childPolicy":[{"p2c_ewma":{}}]}}`},
		{"pool", `{"pool":{"connections":2}}`},
		{"deterministic_subset", `{"deterministic_subset":{"subsetSize":1,"clientCount":2,"clientIndex":0,"childPolicy":[{"round_robin":{}}]}}`},
	}
	b := NewBuilder(Options{Config: api.Config(), Logger: quiet})
	target := "kubernetes:///typo." + w.ns + ":nosuch"
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			cc, err := grpc.NewClient(target, grpc.WithResolvers(b), grpc.WithContextDialer(w.docs.Dial),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[`+p.config+`]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			waitUnavailable(t, echopb.NewEchoClient(cc), want)
		})
	}
	t.Run("grpclb.NewClient", func(t *testing.T) {
		cc, err := grpclb.NewClient(target, grpclb.WithDialOptions(grpc.WithResolvers(b), grpc.WithContextDialer(w.docs.Dial),
			grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		waitUnavailable(t, echopb.NewEchoClient(cc), want)
	})
}
