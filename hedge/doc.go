// Package hedge hedges gRPC unary calls of idempotent methods on the
// client: when a call has not been answered after a short delay, a second
// copy is sent, the first answer wins and the other copy is cancelled.
//
// # Why
//
// A fleet's tail latency is set by its slowest moments: one slow backend,
// a garbage collection pause, a full queue, a cold cache. A call that lands
// there waits, however fast the rest of the fleet is, and a request that
// fans out to many backends almost surely meets one. Balancers help on
// average (p2c_ewma, in balancer/p2c, sends a backend that is slow on the
// whole few calls), but cannot foresee a pause that starts after the pick.
// Hedging ("The Tail at Scale", Dean and Barroso, 2013) covers what is
// left: a call still unanswered at about the 95th percentile of the
// method's latency is sent again, most likely to a backend that is not
// stuck, for a few percent of extra load. The two compose: p2c_ewma keeps
// most calls off a backend that is slow on average, hedging cuts the tail
// that remains (a pause that starts after the pick, a backend not yet seen
// to be slow, a slow call on a fast backend).
//
// In this package's end-to-end test, three backends behind round_robin of
// which one takes 100ms more on one call in ten, the p99 of 600 calls is
// 101ms without hedging and about 5ms with the defaults, for 5 to 8% more
// calls to the servers (under the race detector on a busy two-core
// machine: 10 to 17ms).
//
// grpc-go implements gRPC's retryPolicy but not its hedgingPolicy (gRFC
// A6): a service config's hedgingPolicy is silently ignored, and nothing is
// hedged. This package hedges, in a client interceptor.
//
// # Usage
//
//	h, err := hedge.New(hedge.Methods("/shop.Catalog/GetItem", "/shop.Search/*"))
//	...
//	conn, err := grpc.NewClient(target,
//		grpc.WithUnaryInterceptor(h.UnaryClientInterceptor()),
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
//		...)
//
// Only idempotent methods are hedged, for a hedged call may run twice on
// the servers: reads, and writes that are safe to repeat. Nothing is
// hedged unless marked: by Methods, MethodFunc, or per call by a context
// from Idempotent. Disable turns hedging off for a call and WithDelay sets
// its delay. Streaming calls are never hedged.
//
// # Attempts
//
// The first attempt is sent at once. If it has not answered after the
// delay, a second is sent, and so on up to MaxAttempts (default 2) every
// delay, each within the budget. Every attempt goes through the same
// ClientConn, so the balancer picks again for each: with round_robin or
// p2c_ewma the hedge goes to another backend (p2c_ewma counts the stuck
// attempt in flight, which makes its backend dearer); with pick_first
// (grpc-go's default) it goes to the same backend and helps only against
// slow calls, not a slow backend. Hedged attempts carry the
// grpc-previous-rpc-attempts metadata, as in gRPC's hedging, so servers
// can tell them.
//
// By default the delay adapts: it is the 95th percentile (AdaptiveDelay)
// of the method's recent latencies, of first attempts, so about 5% of calls
// are hedged, as "The Tail at Scale" suggests, and the delay follows the
// service as it speeds up or slows down (and the machine as it gets busy).
// A method's delay is 10ms until it has 64 latencies. Delay fixes the
// delay instead, for a method whose latency is known; a fixed delay below
// the latency of more than a budget's share of calls spends the budget on
// calls that were not slow, and the calls of the tail then find it empty.
// Either way the tail beyond the delay shrinks to the delay plus a usual
// latency. If the caller's deadline comes before the delay, no hedge is
// sent.
//
// # Outcomes
//
// The first attempt to succeed wins: its reply is the call's, and so are
// its header, trailer and peer (grpc.Header, grpc.Trailer, grpc.Peer);
// grpc.OnFinish is called once, with the call's outcome. (The first attempt
// writes into the caller's reply; each extra one into a new message of the
// same type, merged into the caller's if it wins. A reply that is not a
// proto message must be a pointer, and is copied by value; one that is
// neither is never hedged.) The other attempts
// are cancelled, which ends them on their servers too (the server's context
// is cancelled). The call returns only once every attempt has returned.
//
// An attempt that fails with a fatal code commits the call too: its error
// is the call's and the others are cancelled, since a server's answer (not
// found, invalid argument, permission denied, ...) would be the same on
// another attempt. A non-fatal code (NonFatalCodes; by default Unavailable
// alone, which grpc-go returns when a backend cannot be reached or is
// draining) lets the other attempts go on and sends the next one at once,
// without waiting for the delay; if every attempt fails so, the last error
// is the call's. These are the semantics of gRPC's hedgingPolicy (gRFC A6),
// except for the default: a hedgingPolicy without nonFatalStatusCodes makes
// every code fatal. The budget plays the part of A6's retryThrottling, but
// counts calls rather than failures, and server pushback
// (grpc-retry-pushback-ms) is not read.
//
// # Budget
//
// Hedging trades load for latency, and must not turn a slow fleet into an
// overloaded one by doubling its calls. Extra attempts are taken from a
// token bucket: each call of an idempotent method adds Budget tokens
// (default 0.1), each extra attempt takes one, and the bucket holds at most
// BudgetBurst tokens (default 10; it starts full). Over any stretch of time
// the extra attempts are thus at most Budget × calls + BudgetBurst: with
// the defaults, at most 10% more calls (plus 10), whatever happens to the
// backends. When
// the bucket is empty, calls are sent once, as without hedging. Stats counts
// calls, hedged calls, extra attempts, calls won by a hedge, and calls that
// found the budget empty.
//
// # With retries
//
// Hedging is not retrying: it sends copies while the first attempt is
// still running. gRPC's retryPolicy (which grpc-go implements) may apply
// to each attempt on its own; gRPC forbids both policies on one method, and
// a method that is both retried and hedged can cost more than the budget
// says.
package hedge
