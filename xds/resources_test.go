package xds

import (
	"testing"

	clusterpb "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// Each policy is served both ways: as load_balancing_policy (gRFC A52) and
// as the lb_policy enum that older clients read (C-core before 1.55).
func TestClusterPolicyBothWays(t *testing.T) {
	tests := []struct {
		policy     Policy
		wantPolicy string // the load_balancing_policy's outer extension
		wantEnum   clusterpb.Cluster_LbPolicy
	}{
		{RoundRobin, "envoy.load_balancing_policies.wrr_locality", clusterpb.Cluster_ROUND_ROBIN},
		{LeastRequest, "envoy.load_balancing_policies.wrr_locality", clusterpb.Cluster_LEAST_REQUEST},
		{RingHash, "envoy.load_balancing_policies.ring_hash", clusterpb.Cluster_RING_HASH},
		{WeightedRoundRobin, "envoy.load_balancing_policies.wrr_locality", clusterpb.Cluster_ROUND_ROBIN},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			c := cluster(Service{Name: "svc", Target: "static:///127.0.0.1:1", Policy: tt.policy})
			if got := c.GetLoadBalancingPolicy().GetPolicies()[0].GetTypedExtensionConfig().GetName(); got != tt.wantPolicy {
				t.Errorf("load_balancing_policy %q, want %q", got, tt.wantPolicy)
			}
			if c.GetLbPolicy() != tt.wantEnum {
				t.Errorf("lb_policy %v, want %v", c.GetLbPolicy(), tt.wantEnum)
			}
			switch tt.policy {
			case RingHash:
				if c.GetRingHashLbConfig().GetHashFunction() != clusterpb.Cluster_RingHashLbConfig_XX_HASH {
					t.Errorf("ring_hash_lb_config %v, want XX_HASH", c.GetRingHashLbConfig())
				}
			case LeastRequest:
				if c.GetLeastRequestLbConfig().GetChoiceCount().GetValue() != 2 {
					t.Errorf("least_request_lb_config %v, want choice count 2", c.GetLeastRequestLbConfig())
				}
			}
		})
	}
}
