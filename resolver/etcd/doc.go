// Package etcd is a gRPC name resolver, scheme "etcd", for services that
// register themselves in etcd.
//
// Outside Kubernetes (on VMs, bare metal, Nomad, plain Docker) there are no
// EndpointSlices: services register their addresses in a registry and
// clients follow the registry. With etcd the usual layout is the one of
// etcd's own go.etcd.io/etcd/client/v3/naming/endpoints package: one key per
// instance, "<prefix>/<addr>", attached to a lease that the instance keeps
// alive, whose value is the JSON of an endpoints.Endpoint:
//
//	service/echo/10.0.0.1:50051 → {"Op":0,"Addr":"10.0.0.1:50051","Metadata":{"zone":"a"}}
//
// etcd ships a resolver for that layout (naming/resolver), but it needs an
// etcd client built by hand and passed with grpc.WithResolvers, publishes
// only Endpoints, gives up for good the first time its watch fails (for
// example when the history it missed while disconnected was compacted),
// and drops the metadata. This
// package reads the same keys, so it works with servers registered by
// etcd's endpoints.Manager as well as by grpclb's register/etcd, and adds:
//
//   - targets that name the etcd cluster, so grpc.NewClient needs nothing
//     else: etcd://10.0.0.5:2379,10.0.0.6:2379/service/echo;
//   - a watch that survives etcd: after an error or a disconnect it resumes
//     from the last revision it saw, and when that revision was compacted
//     meanwhile it reads the prefix again, as it does when etcd comes back
//     with an older revision (rebuilt empty, or restored from a snapshot
//     without --bump-revision), which would leave a plain watch waiting
//     for revisions that come only much later; reconnection backoff is
//     capped (MaxBackoff), so a client notices a restarted etcd within
//     seconds;
//   - the last good set is kept while etcd is unreachable, and (by default)
//     when the prefix becomes empty, so a registry outage or a partition
//     between the servers and etcd never takes backends away; errors reach
//     the channel only while no good set exists;
//   - bad values (not JSON, an empty or malformed address, a port out of
//     range, the same address under two keys) are skipped with a log line
//     naming the key, never a panic;
//   - every published state is the full set, in Endpoints and in Addresses,
//     and each endpoint carries what etcd held for it (key, address and
//     Metadata) as an attribute for balancers.
//
// # Targets
//
//	etcd://10.0.0.5:2379/service/echo
//	etcd://etcd-1:2379,etcd-2:2379,etcd-3:2379/service/echo?dial_timeout=2s
//	etcd:///service/echo
//
// The authority lists the etcd endpoints, host:port, comma-separated (a
// missing port is 2379; give every endpoint a port, since Go's URL parser
// rejects "a:1,b"; a list of IPv6 endpoints cannot be written in an
// authority, so put it in Options.Endpoints or ETCD_ENDPOINTS). With no
// authority the resolver uses Options.Client if set, else
// Options.Endpoints, else the ETCD_ENDPOINTS environment variable
// (comma-separated, "host:port" or URLs such as https://etcd-1:2379), and
// fails to build when all are empty.
//
// The path, without its leading '/', is the key prefix: etcd:///service/echo
// watches the keys "service/echo/...", the same as etcd's own resolver given
// the same target. It must not end with '/'. A key prefix that itself starts
// with '/' takes a second slash: etcd://host:2379//services/echo.
//
// Query parameters override the builder's Options: dial_timeout, timeout
// (one read of the prefix), max_backoff (retries and reconnection) and
// empty ("keep", the default: an empty prefix keeps the last good set;
// "publish": publish the empty set).
//
// # Keys and values
//
// Every key under the prefix is one instance; its address is the value's
// Addr, not the key (etcd's endpoints.Manager lets the key be anything under
// the prefix). Values are decoded like etcd's endpoints package does, with
// encoding/json; a value whose Op is not 0 (Add) is skipped, since
// naming/endpoints deletes keys rather than writing Delete updates. IP
// addresses are written canonically. When two keys hold the same address
// the first key (in key order) is used and the other is logged.
//
// # Metadata
//
// Each published endpoint carries an Instance in its Attributes: the key,
// the address and the value's Metadata as raw JSON. A balancer reads it
// with InstanceFromEndpoint and decodes Metadata into the type the
// registering side used:
//
//	inst, ok := etcd.InstanceFromEndpoint(ep)
//	var md struct{ Zone string }
//	if ok && inst.Metadata != nil {
//		err := json.Unmarshal(inst.Metadata, &md)
//	}
//
// A change of Metadata alone is a change of the set, and is published.
//
// # Clients and lifetime
//
// Each resolver (one per grpc.ClientConn) makes its own etcd client from
// the endpoints, Options.ClientConfig (TLS, credentials) and the timeouts,
// and closes it on Close, which also waits for the resolver's goroutine.
// To share one client among many ClientConns, set Options.Client and use
// targets without an authority. ResolveNow does nothing: changes arrive by
// the watch.
//
// Import the package for its side effect of registering the scheme, or
// build a resolver with other defaults with NewBuilder and pass it to
// grpc.WithResolvers. Pair it with a balancer that uses every address, such
// as round_robin. Servers register with grpclb's register/etcd.
package etcd
