package xds

import (
	"fmt"
	"net"
	"strconv"
	"time"

	clusterpb "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerpb "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routepb "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerpb "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmpb "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	cswrrpb "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	leastrequestpb "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	ringhashpb "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	roundrobinpb "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	wrrlocalitypb "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	"google.golang.org/grpc/resolver"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/endpoint"
)

// This file builds a service's xDS resources (gRFC A27). All of them are
// named after the service.

// ads is the config source of every resource but the listeners: the ADS
// stream the client already has.
func ads() *corepb.ConfigSource {
	return &corepb.ConfigSource{
		ConfigSourceSpecifier: &corepb.ConfigSource_Ads{Ads: &corepb.AggregatedConfigSource{}},
		ResourceApiVersion:    corepb.ApiVersion_V3,
	}
}

// mustAny wraps m in an Any; m is one of this file's messages, which
// always marshal.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("xds: marshal %T: %v", m, err))
	}
	return a
}

// listener is s's Listener: an api_listener HttpConnectionManager with its
// routes from RDS and the router filter.
func listener(s Service) *listenerpb.Listener {
	hcm := &hcmpb.HttpConnectionManager{
		StatPrefix: s.Name,
		RouteSpecifier: &hcmpb.HttpConnectionManager_Rds{Rds: &hcmpb.Rds{
			ConfigSource:    ads(),
			RouteConfigName: s.Name,
		}},
		HttpFilters: []*hcmpb.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmpb.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerpb.Router{})},
		}},
	}
	return &listenerpb.Listener{
		Name:        s.Name,
		ApiListener: &listenerpb.ApiListener{ApiListener: mustAny(hcm)},
	}
}

// route is s's RouteConfiguration: every call of every domain to the
// cluster s.Name, hashed on s.HashHeader if set.
func route(s Service) *routepb.RouteConfiguration {
	action := &routepb.RouteAction{
		ClusterSpecifier: &routepb.RouteAction_Cluster{Cluster: s.Name},
	}
	if s.HashHeader != "" {
		action.HashPolicy = []*routepb.RouteAction_HashPolicy{{
			PolicySpecifier: &routepb.RouteAction_HashPolicy_Header_{
				Header: &routepb.RouteAction_HashPolicy_Header{HeaderName: s.HashHeader},
			},
		}}
	}
	return &routepb.RouteConfiguration{
		Name: s.Name,
		VirtualHosts: []*routepb.VirtualHost{{
			Name:    s.Name,
			Domains: []string{"*"},
			Routes: []*routepb.Route{{
				Match:  &routepb.RouteMatch{PathSpecifier: &routepb.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routepb.Route_Route{Route: action},
			}},
		}},
	}
}

// cluster is s's Cluster: EDS over ADS with s's policy and outlier
// detection.
func cluster(s Service) *clusterpb.Cluster {
	c := &clusterpb.Cluster{
		Name:                 s.Name,
		ClusterDiscoveryType: &clusterpb.Cluster_Type{Type: clusterpb.Cluster_EDS},
		EdsClusterConfig: &clusterpb.Cluster_EdsClusterConfig{
			EdsConfig:   ads(),
			ServiceName: s.Name,
		},
		ConnectTimeout:      durationpb.New(5 * time.Second),
		LoadBalancingPolicy: lbPolicy(s.policy()),
		OutlierDetection:    outlierDetection(s.OutlierDetection),
	}
	setLegacyPolicy(c, s.policy())
	return c
}

// setLegacyPolicy sets c's lb_policy enum and its config too, for clients
// that predate load_balancing_policy (gRFC A52) or have it off: C-core
// before 1.55 (Python's grpcio 1.51 in Debian 12) reads only these and
// would run round_robin where ring_hash was asked. Newer clients use
// load_balancing_policy and ignore them. weighted_round_robin has no enum:
// such clients run round_robin.
func setLegacyPolicy(c *clusterpb.Cluster, p Policy) {
	switch p {
	case RingHash:
		c.LbPolicy = clusterpb.Cluster_RING_HASH
		c.LbConfig = &clusterpb.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterpb.Cluster_RingHashLbConfig{
			HashFunction: clusterpb.Cluster_RingHashLbConfig_XX_HASH,
		}}
	case LeastRequest:
		c.LbPolicy = clusterpb.Cluster_LEAST_REQUEST
		c.LbConfig = &clusterpb.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterpb.Cluster_LeastRequestLbConfig{
			ChoiceCount: wrapperspb.UInt32(2),
		}}
	default:
		c.LbPolicy = clusterpb.Cluster_ROUND_ROBIN
	}
}

// lbPolicy is p as a load_balancing_policy (gRFC A52). The policies that
// pick an endpoint within a locality are wrapped in wrr_locality, which
// weighs localities as gRPC clients expect; ring_hash spans localities
// itself.
func lbPolicy(p Policy) *clusterpb.LoadBalancingPolicy {
	policy := func(name string, m proto.Message) *clusterpb.LoadBalancingPolicy {
		return &clusterpb.LoadBalancingPolicy{Policies: []*clusterpb.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corepb.TypedExtensionConfig{Name: name, TypedConfig: mustAny(m)},
		}}}
	}
	var child *clusterpb.LoadBalancingPolicy
	switch p {
	case RingHash:
		return policy("envoy.load_balancing_policies.ring_hash", &ringhashpb.RingHash{
			HashFunction: ringhashpb.RingHash_XX_HASH,
		})
	case LeastRequest:
		child = policy("envoy.load_balancing_policies.least_request", &leastrequestpb.LeastRequest{
			ChoiceCount: wrapperspb.UInt32(2),
		})
	case WeightedRoundRobin:
		child = policy("envoy.load_balancing_policies.client_side_weighted_round_robin", &cswrrpb.ClientSideWeightedRoundRobin{})
	default:
		child = policy("envoy.load_balancing_policies.round_robin", &roundrobinpb.RoundRobin{})
	}
	return policy("envoy.load_balancing_policies.wrr_locality", &wrrlocalitypb.WrrLocality{EndpointPickingPolicy: child})
}

// lbEndpoints converts a resolver's state to EDS endpoints, in localities
// by their endpoint.Zone: its Endpoints, or, from a resolver that sets
// only Addresses, one endpoint per address (in no zone). An address that
// is not host:port with a numeric port is skipped and reported in
// skipped; an endpoint whose addresses are all skipped is left out. n is
// the number of endpoints kept.
func lbEndpoints(state resolver.State) (locs []locality, n int, skipped []error) {
	var eps []*endpointpb.LbEndpoint
	var zones []string
	list := state.Endpoints
	if len(list) == 0 {
		for _, a := range state.Addresses {
			list = append(list, resolver.Endpoint{Addresses: []resolver.Address{a}})
		}
	}
	for _, ep := range list {
		var addrs []*corepb.Address
		for _, a := range ep.Addresses {
			sa, err := socketAddress(a.Addr)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			addrs = append(addrs, sa)
		}
		if len(addrs) == 0 {
			continue
		}
		e := &endpointpb.Endpoint{Address: addrs[0]}
		for _, a := range addrs[1:] {
			e.AdditionalAddresses = append(e.AdditionalAddresses, &endpointpb.Endpoint_AdditionalAddress{Address: a})
		}
		eps = append(eps, &endpointpb.LbEndpoint{
			HostIdentifier:      &endpointpb.LbEndpoint_Endpoint{Endpoint: e},
			HealthStatus:        corepb.HealthStatus_HEALTHY,
			LoadBalancingWeight: wrapperspb.UInt32(endpoint.Weight(ep)),
		})
		zones = append(zones, endpoint.Zone(ep))
	}
	return byZone(eps, zones), len(eps), skipped
}

// socketAddress parses host:port into an xDS TCP socket address.
func socketAddress(addr string) (*corepb.Address, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 || host == "" {
		return nil, fmt.Errorf("address %q is not host:port with a port in 1..65535", addr)
	}
	return &corepb.Address{Address: &corepb.Address_SocketAddress{SocketAddress: &corepb.SocketAddress{
		Protocol:      corepb.SocketAddress_TCP,
		Address:       host,
		PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}, nil
}
