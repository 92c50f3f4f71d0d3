// Package server holds the server-side half of gRPC load balancing: options
// that make clients re-resolve and spread their connections, and a drain
// helper for shutting a server down without failing calls.
//
// # Why connections must age
//
// A gRPC client keeps its HTTP/2 connections for as long as they work. Behind
// an L4 balancer (a Kubernetes ClusterIP, a cloud load balancer) that pins
// every call of a client to one backend; with a headless Service and
// dns:/// + round_robin, backends added later are never used, because
// grpc-go's dns resolver only looks the name up again when a connection
// breaks. MaxConnectionAge makes the server close each connection after an
// age (grpc-go adds ±10% jitter), with MaxConnectionAgeGrace for in-flight
// calls to finish. The client reconnects, and its resolver is asked to
// resolve again.
//
// # The subtlety: grpc-go's 30-second floor
//
// grpc-go's dns resolver refuses to look a name up within 30 seconds of its
// previous lookup (resolver/dns.MinResolutionInterval). A connection that
// ages out 5 seconds after start-up triggers a re-resolution that waits until
// 30 seconds have passed, so a backend added then gets its first call after
// up to 30 seconds, not after MaxConnectionAge. The time to pick up a new
// backend is therefore up to max(MaxConnectionAge + grace, 30s) with the
// stock resolver. `grpclb lab` shows it (strategy dns+maxage). To get
// MaxConnectionAge's bound, call dns.SetMinResolutionInterval at start-up
// (process-wide), or better, use a resolver that does not wait for a broken
// connection at all: resolver/dnspoll, or a watch-based one. Ageing still
// helps with those: it rebalances long-lived connections after a scale-up
// and moves clients off L4 balancers' pinned backends.
//
// # Keepalive
//
// Options also set keepalive in both directions: the server pings idle
// clients and drops dead ones, and it accepts client pings as often as every
// MinPingInterval (grpc-go's default is 5 minutes, which makes it answer a
// client that pings every 10 seconds with GOAWAY "too_many_pings").
//
// # Draining
//
// Drain marks the health service NOT_SERVING (clients doing health checks
// and registries stop sending new calls), runs hooks such as deregistration,
// waits a grace period for that news to spread, then stops gracefully with a
// deadline after which it stops hard.
package server
