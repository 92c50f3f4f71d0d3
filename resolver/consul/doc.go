// Package consul is a gRPC name resolver, scheme "consul", for services
// registered in HashiCorp Consul.
//
// Outside Kubernetes (on VMs, bare metal, Nomad, plain Docker) services
// often register in Consul, whose agents check their health and whose
// catalog clients query. The Go resolvers for Consul that exist accept a
// single tag, return unhealthy instances unless told otherwise, and poll or
// give up on errors; and nothing registers a gRPC server with a real gRPC
// health check (grpclb's register/consul does). This package:
//
//   - follows the service with Consul blocking queries on
//     /v1/health/service/NAME (the api package's Health().ServiceMultipleTags
//     with a WaitIndex), so a registration, a deregistration or a check
//     changing state reaches the channel within milliseconds;
//   - returns only instances whose checks all pass, by default;
//   - filters on several tags (an instance must carry all of them), a
//     datacenter, and sorts by round-trip time with near;
//   - survives the agent: errors are retried with capped backoff, the
//     index is reset when it goes backwards (an agent or cluster restarted
//     empty, a snapshot restored) as Consul's documentation requires, and
//     after an error the next query reads the current state before
//     blocking again;
//   - keeps the last good set while Consul is unreachable, and (by default)
//     when no instance matches, so a registry outage never takes backends
//     away; errors reach the channel only while no good set exists;
//   - skips bad entries (no address at all, a port out of range, a
//     malformed address, two instances on one address) with a log line
//     naming node/service-id, never a panic;
//   - publishes the full set on every change, in Endpoints and in
//     Addresses, and attaches what Consul holds for each instance (ID,
//     node, datacenter, tags, service and node metadata) to its endpoint.
//
// # Targets
//
//	consul://127.0.0.1:8500/echo
//	consul://consul.service:8500/echo?tag=grpc&tag=v2&dc=eu-west&near=_agent
//	consul:///echo?passing=false
//
// The authority is the agent's HTTP address, host:port (a missing port is
// 8500). With no authority the address is Options.Config's, or by default
// CONSUL_HTTP_ADDR, or 127.0.0.1:8500 (the local agent, Consul's usual
// topology). The path is the service name.
//
// Query parameters: tag (repeat it: every tag must match), dc (the
// datacenter; default the agent's), near (a node name, or _agent, to sort
// by estimated round-trip time; the order does not matter to round_robin),
// passing (true, the default: only instances whose checks all pass;
// false: every registered instance, whatever its checks), stale (true:
// any Consul server may answer, not only the leader), and the Options
// wait, timeout, max_backoff and empty ("keep" or "publish").
//
// # Credentials
//
// The ACL token, TLS settings and so on come from Options.Config, by
// default api.DefaultConfig(), which reads the usual environment variables
// (CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_SSL,
// CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY...). Options.Token
// overrides the token. Targets never carry credentials, since they are
// logged.
//
// # Addresses
//
// An instance's address is its service address, or its node's address when
// the service has none (Consul's rule), with the service port. IP addresses
// are written canonically; host names are kept (the gRPC transport resolves
// them when it dials). Tagged addresses (lan/wan) are not used. When two
// instances have the same address, the first in node/service-id order is
// used and the other is logged.
//
// # Attributes
//
// Each published endpoint carries an Instance in its Attributes. A balancer
// reads it with InstanceFromEndpoint:
//
//	inst, ok := consul.InstanceFromEndpoint(ep)
//	if ok && inst.Meta["zone"] == "eu-west-1a" && slices.Contains(inst.Tags, "canary") {
//		...
//	}
//
// The service's Meta "zone", when set, is also the endpoint's
// endpoint.Zone, which grpclb's xDS server groups localities by.
//
// A change of tags or metadata alone is a change of the set, and is
// published.
//
// # Lifetime
//
// Each resolver (one per grpc.ClientConn) makes its own API client and HTTP
// transport, and Close cancels its query, waits for its goroutine and
// closes the transport's idle connections. ResolveNow does nothing:
// changes arrive by the blocking queries.
//
// Import the package for its side effect of registering the scheme, or
// build a resolver with other defaults with NewBuilder and pass it to
// grpc.WithResolvers. Pair it with a balancer that uses every address, such
// as round_robin. Servers register with grpclb's register/consul.
package consul
