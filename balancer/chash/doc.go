// Package chash implements "consistent_hash", a gRPC load-balancing policy
// that sends every call with the same key to the same endpoint, with
// bounded loads.
//
// Sticky routing (a cache in front of a database, per-user or per-tenant
// state, a shard of work) wants the calls for one key on one backend, and
// wants few keys to move when backends come and go. grpc-go's ring_hash
// takes the key only from a request header, which is also sent to the
// server, and no Go gRPC library bounds the load a hot key can put on one
// backend. This policy takes the key from the call's context (WithKey; it
// never leaves the process) or from a header, and bounds every endpoint's
// in-flight calls to a multiple of the average.
//
// Importing the package registers the policy. Select it in the service
// config:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"consistent_hash":{}}]}`),
//		...)
//	...
//	resp, err := client.Get(chash.WithKey(ctx, userID), req)
//
// # The ring
//
// Endpoints are placed on a ketama-style hash ring: an endpoint of weight
// w (endpoint.Weight, default 1) gets w × virtualNodes points, at the
// successive outputs of a SplitMix64 generator seeded with the 64-bit
// xxhash of its first address (as well spread as hashing "address-i" for
// every point, and five times cheaper). A call's key is hashed with xxhash
// too, and the call goes to the endpoint of the first point at or
// clockwise after the key's hash: its owner. The ring depends only on the
// endpoints' first addresses and weights (no random seeds, no map order),
// so every ClientConn in every process maps a key to the same endpoint, and
// adding or removing one of n endpoints moves only about 1/n of the keys:
// those of the endpoint that came or went.
//
// # Bounded loads
//
// Following Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with
// Bounded Loads" (2017), the policy counts each endpoint's calls in flight
// (from pick to the end of the call) and the total. An endpoint takes a
// new call only if its in-flight + 1 <= ceil(c × (total + 1) / number of
// READY endpoints) (with weights, the bound is scaled by the endpoint's
// share of the READY weight); otherwise the call goes to the next endpoint
// clockwise that has room. So a hot key spills over to its ring
// neighbours instead of overloading its owner, while keys of unloaded
// owners stay put. c is loadFactor (default 1.25); 0 turns bounding off.
// Under concurrent picks the bound can be overshot by the picks in
// progress.
//
// The bound is tight when few calls are in flight per endpoint: with 8 in
// flight over 6 endpoints it is ceil(1.25 × 8 / 6) = 2 calls, and a third
// call for a busy owner goes to a neighbour even though nothing is
// overloaded. Where sticking to the owner matters more than evening out
// small loads, raise loadFactor (2 or more) or turn bounding off.
//
// # Endpoints that are not READY
//
// Each endpoint has a pick_first child (through endpointsharding), which
// connects at once and reconnects by itself. When a key's owner is not
// READY, the call goes to the next READY endpoint clockwise, and an IDLE
// owner is asked to connect (without blocking the call). When no endpoint
// is READY, calls wait while any endpoint is connecting, and otherwise fail
// with the owner's connection error (as ring_hash does).
//
// # Keys
//
// A call's key is, in order:
//
//   - the key set with WithKey on the call's context; it is not sent;
//   - the value of the outgoing metadata header named by hashHeader, if
//     configured (several values are joined by ","); the header is sent.
//
// The same key string maps to the same endpoint either way. An empty key
// is no key. A call without a key goes to a random READY endpoint
// ("missingKey": "random", the default; the load bound still applies) or
// fails ("missingKey": "error") with an InvalidArgument status that says
// how to set a key. grpc-go does not let a picker end a call with
// InvalidArgument (gRFC A54): the caller sees codes.Internal with a
// message that contains the original status, for example
//
//	rpc error: code = Internal desc = received picker error with illegal
//	status: rpc error: code = InvalidArgument desc = consistent_hash: the
//	call has no hash key (missingKey is "error"): set one with
//	chash.WithKey(ctx, key)
//
// # Configuration
//
// All fields are optional (see Config for each field):
//
//	{"loadBalancingConfig": [{"consistent_hash": {
//	    "virtualNodes": 0,        // points per unit of weight; 0: automatic
//	    "loadFactor": 1.25,       // c; > 1, or 0 for no bound
//	    "hashHeader": "x-user-id", // header with the key; "" (default): none
//	    "missingKey": "random"    // or "error"
//	}}]}
//
// (JSON has no comments; they are explanations here.)
//
// The automatic number of points (virtualNodes 0) is 1000 per unit of
// weight, capped so the ring has about 2^16 points: up to 65 endpoints get
// 1000 points each, 100 endpoints about 655, 1000 endpoints about 66. That
// keeps the keys moved by a change of one endpoint within a few percent of
// the ideal 1/n for small fleets, and the rebuild of a 1000-endpoint ring
// around 2 ms; beyond the cap, a change moves about twice the ideal. An
// explicit virtualNodes keeps every endpoint's points fixed (see
// Config.VirtualNodes).
//
// # Cost
//
// Pick hashes the key, finds its bucket (2 to 4 points) in a table and
// searches it in a sorted []uint64 without branches; it takes no lock and
// allocates nothing. With bounded loads it adds two atomic increments (and
// Done two decrements); each endpoint's Done function is made once, not per
// call. What a pick reads of an endpoint (its READY SubConn, taken from
// pick_first's picker when the picker is built, its counter and its
// capacity) is one 32-byte record in one array, and the counters sit in 4
// kB blocks, so a pick costs about the same over 10 endpoints as over
// 10,000 (35 and 45 ns on the machine of the README's figures). Reading a header key copies its values
// (metadata.ValueFromOutgoingContext) and allocates; WithKey keys do not.
// Building the ring hashes and bucket-sorts its points in linear time.
package chash
