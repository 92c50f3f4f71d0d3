// Package pool is a gRPC load-balancing policy, "pool", that opens N
// connections to every address it is given and spreads calls over all of
// them.
//
// A service behind one virtual IP (a Kubernetes ClusterIP, a cloud TCP load
// balancer) gives a client one address. grpc-go then opens one connection,
// the L4 balancer sends it to one backend, and every call of the client
// lands there, whatever policy is configured: round_robin has nothing to
// rotate over. The L4 balancer balances connections, so the fix is more
// connections: with N connections per address, the VIP spreads them over
// its backends and the policy spreads calls over the connections.
// (grpc-go merges endpoints with the same address, so the policy creates
// its connections itself rather than asking a resolver for duplicates.)
//
// Configuration, through the service config:
//
//	{"loadBalancingConfig": [{"pool": {"connections": 8, "pick": "round_robin"}}]}
//
// connections is the number per address (default 4, at most 256); pick is
// how a call chooses among READY connections: "round_robin" (default) or
// "p2c" (the less busy of two random connections, by calls in flight, which
// avoids a connection whose backend is slow). A connection that goes IDLE
// (for example after the server's MaxConnectionAge) is reconnected at once,
// and the VIP may place it on another backend: pool works well with
// server.Options.
//
// The connections are ordinary SubConns: with more than one address each
// address gets N of them, so pool also works as "round_robin with N
// connections per backend" for services that need more than one HTTP/2
// connection per backend (more than 100 concurrent streams, for example).
package pool
