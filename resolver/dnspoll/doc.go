// Package dnspoll is a gRPC name resolver that re-resolves DNS on a timer.
//
// grpc-go's own "dns" resolver looks a name up once and then only when a
// connection breaks, and never more often than every 30 seconds. Behind a
// Kubernetes headless Service (or any DNS name whose records change), pods
// added after a client started therefore get no traffic until some
// connection fails. dnspoll looks the name up every Interval (with jitter,
// so a fleet of clients does not query in lock step), publishes the full
// endpoint set each time it changes, answers ResolveNow at once (but never
// more often than MinInterval), and keeps the last good set when DNS fails
// or answers empty, so a DNS outage never takes backends away.
//
// Targets have the same form as grpc-go's "dns" targets, plus options:
//
//	dnspoll:///backend.default.svc.cluster.local:50051
//	dnspoll://10.0.0.10:53/backend.test:50051?interval=5s&jitter=0.2
//	dnspoll:///_grpc._tcp.backend.test?srv=true
//
// The authority, when present, names the DNS server to ask. Query
// parameters override the builder's Options: interval, jitter (a fraction of
// interval), min_interval, timeout, srv (true: the name is an SRV name and
// each record's target and port are used) and empty ("keep": ignore empty
// answers and NXDOMAIN, the default; "publish": publish an empty set).
//
// Import the package for its side effect of registering the scheme, or
// build a resolver with other defaults with NewBuilder and pass it to
// grpc.WithResolvers. Pair it with a balancer that uses every address, such
// as round_robin.
package dnspoll
