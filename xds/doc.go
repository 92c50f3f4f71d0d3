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
//     weighted_round_robin) and its outlier detection, if it has one (see
//     Outlier detection);
//   - a ClusterLoadAssignment named NAME with the resolver's endpoints in
//     one locality per zone (endpoint.Zone; endpoints without a zone share a
//     locality without one), with priorities for the client's zone (see
//     Zones), each endpoint's weight (endpoint.Weight) as its load
//     balancing weight and its further addresses as additional addresses.
//     A locality weighs the sum of its endpoints' weights, so calls spread
//     over the endpoints of a priority, not evenly over its zones.
//
// Listeners, routes and clusters follow the Config and do not change; the
// endpoints follow the resolvers. Every change a resolver publishes becomes
// a new snapshot (its version, Server.Version, only grows) within
// milliseconds; an update that changes nothing is not republished. A
// resolver error, or an update with no usable address, is logged and the
// last good endpoints are kept: a dead registry does not empty a service.
// Until its resolver's first update a service has no ClusterLoadAssignment:
// its clients wait for one (grpc-go up to its 15 s does-not-exist timer)
// rather than fail calls on an empty one.
//
// Clients need a bootstrap naming the server (Bootstrap writes one, with
// the node's zone) and connect with ADS. The listeners, routes and clusters
// are the same for every client; the assignments depend on the zone of the
// client's node, and on nothing else of it. A client asking for a service the Config does not have is answered
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
// # Zones
//
// A client whose bootstrap node has a zone (node.locality.zone) prefers
// the endpoints of its zone, as Kubernetes' trafficDistribution
// PreferSameZone does: same zone when it has endpoints, else all. For a
// zone-aware service (Service.ZoneAware, on by default) and a client in
// zone Z:
//
//   - if zone Z has at least Service.MinZoneEndpoints endpoints (default
//     1), its locality is at priority 0 and every other locality, the one
//     without a zone included, at priority 1;
//   - otherwise (spill-over) every locality is at priority 0: calls spread
//     over every endpoint.
//
// A client without a zone, and every client of a service with ZoneAware
// false, gets every locality at priority 0. The count is of the endpoints
// the resolver publishes (for Kubernetes, the ready ones); region and
// sub-zone are not looked at.
//
// Failover is the client's: gRPC's priority policy (gRFC A37) uses
// priority 1 as soon as priority 0 is in TRANSIENT_FAILURE (every
// endpoint of the zone failing to connect), or when it has not connected
// within 10 s, and goes back to priority 0 when it recovers. The server
// changes nothing when a backend dies; it follows the resolver, which
// drops the endpoint when the registry does.
//
// Each zone gets a snapshot of its own, made when the first node of the
// zone asks (before the cache answers it) and rebuilt on every endpoint
// update with every other; all share one version. Up to 64 zones get a
// snapshot; nodes of further zones are served as nodes without a zone.
//
// # Outlier detection
//
// A service's OutlierDetection (gRFC A50) becomes its Cluster's
// outlier_detection: each client counts its own calls to each endpoint and
// ejects, for BaseEjectionTime and longer each time again, an endpoint
// whose calls fail more than the threshold (FailurePercentage) or whose
// success rate is far below the others' (SuccessRate); at most
// MaxEjectionPercent of the endpoints are out at once. The server writes
// every field out, A50's defaults for the ones the config leaves at zero,
// and disables the rules the config does not have (and Envoy's
// consecutive-5xx rule, which gRPC clients lack), so that every client
// ejects alike. grpc-go judges the endpoints of every zone together, but
// only those with RequestVolume calls in an interval count: a client that
// keeps to its zone judges that zone's endpoints, and needs MinimumHosts
// of them there; MaxEjectionPercent is a share of all the endpoints. If
// every endpoint of the client's zone is ejected, its priority 0 is in
// TRANSIENT_FAILURE and the client fails over to the other zones.
//
// The legacy grpc.lb.v1 lookaside protocol is not served.
//
// # Subsetting
//
// With thousands of clients, every client connecting to every endpoint
// costs each backend thousands of connections. A service's Subset gives
// each client (each node) only Subset.Size of the endpoints, and every
// endpoint as many clients as every other (±1), the SRE book's
// deterministic subsetting, served by the control plane:
//
//   - each node takes the lowest row of [0, Subset.Clients) that no node
//     holds when its first stream asks, and keeps it while connected and
//     for Options.NodeGrace (default a minute) after its last stream
//     closed: a client that restarts or reconnects within it gets its
//     subset back, and no other node takes its row meanwhile. Nodes beyond
//     Clients share rows (node n uses row n mod Clients); set Clients to
//     the fleet's size. NodeRows lists the rows held.
//   - the rows follow the endpoints with balancer/subset's Repair: one
//     endpoint joining or leaving moves at most ⌈Size·Clients/endpoints⌉+1
//     memberships in all (300 clients × 300 endpoints, Size 10: 9 or 10
//     moves, where recomputing from the set alone, as the
//     deterministic_subset policy does by default, moves 53 to 61), and
//     loads stay within one of each other.
//
// This is the deterministic_subset policy's "sticky" assignment without
// its caveat: the history the rows depend on is the control plane's
// alone, so clients that start late, miss an update or restart still
// share one balanced assignment, and their indexes are unique, not hashed
// from host names. The rows live in one control-plane process, which
// brings two limits:
//
//   - serve subsetted services from a single replica: replicas share
//     neither rows nor node indexes, so with two, each hands its clients
//     rows of its own and the backends are no longer even;
//   - after a restart, nodes take rows in the order they reconnect and
//     the rows are computed afresh from the current endpoints, so clients
//     change subsets once.
//
// Each node of a subsetted service gets a snapshot of its own (its row,
// with its zone's priorities), rebuilt on every endpoint update. Clients
// of the grpc.lb.v1 lookaside protocol get every endpoint.
package xds
