// Package xds serves grpclb's service discovery to gRPC clients that do not
// import grpclb: proxyless xDS clients in any language (grpc-go, grpc-java,
// C-core for C++, Python and Ruby, grpc-js) and Envoy.
//
// A Go client that imports grpclb gets its resolvers (Kubernetes
// EndpointSlices, Consul, etcd, DNS polling, static lists) and its
// policies. A Java, Python or Node service in the same cluster does not: it
// is left with dns:/// and connections pinned to one backend, or needs a
// sidecar. Every gRPC implementation, though, accepts an xds:///NAME target
// and follows a control plane speaking the xDS protocol. Server is such a
// control plane: for each configured Service it runs a grpclb resolver
// (any grpc-go resolver.Builder registered for the target's scheme) and
// publishes what the resolver finds as xDS resources.
//
// # Resources (gRFC A27)
//
// For a service NAME, reached by clients at xds:///NAME, Server serves
//
//   - a Listener named NAME whose api_listener is an HttpConnectionManager
//     with the router filter and its routes from RDS;
//   - a RouteConfiguration named NAME with one virtual host (every domain)
//     whose one route sends every call to the cluster NAME, hashing on the
//     service's HashHeader when it has one (ring_hash);
//   - a Cluster named NAME of type EDS with the service's policy
//     (round_robin by default; least_request, ring_hash,
//     weighted_round_robin);
//   - a ClusterLoadAssignment named NAME with the resolver's endpoints in one
//     locality, each endpoint's weight (endpoint.Weight) as its load
//     balancing weight and its further addresses as additional addresses.
//
// Listeners, routes and clusters follow the Config and do not change; the
// endpoints follow the resolvers. Every change a resolver publishes becomes
// a new snapshot (its version, Server.Version, only grows) within
// milliseconds; an update that changes nothing is not republished. A
// resolver error, or an update with no usable address, is logged and the
// last good endpoints are kept: a dead registry does not empty a service.
// Until its resolver's first update a service has no endpoints.
//
// Every client gets the same snapshot, whatever its node ID. Clients need
// a bootstrap naming the server (Bootstrap writes one) and connect with
// ADS. A client asking for a service the Config does not have is answered
// without it; grpc-go then fails its calls with UNAVAILABLE when its
// does-not-exist timer fires, after 15 s.
// Clients' NACKs are logged.
//
// # The lookaside protocol (grpc.lb.v1)
//
// Register (and so Serve) also registers grpc.lb.v1.LoadBalancer, the
// protocol that came before xDS, which grpc-go's "grpclb" balancer still
// speaks: a client's initial request names a service (a Config name, with
// or without a :port), and the server answers with the service's endpoints
// as a server list (each endpoint's first address; IP addresses only, as
// the protocol carries no names; no weights, which it lacks), then again
// at every change. No list is sent while a service has no endpoints, so
// the client's fallback applies; no load reports are asked for. An unknown
// name is refused with NOT_FOUND naming the served services.
//
// # Resolvers
//
// The static and dnspoll resolvers (and grpc-go's dns) are registered by
// this package. For kubernetes://, etcd:// or consul:// targets, import the
// resolver's own module (github.com/grpclb/grpclb/resolver/kube, ...) in
// the program that runs the server.
//
// Zones (localities), priorities and spill-over between zones and outlier
// detection are not served yet.
package xds
