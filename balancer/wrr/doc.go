// Package wrr implements wrr, a gRPC load-balancing policy that spreads
// calls over the READY endpoints in proportion to weights the resolver
// gives them, with an optional slow start that ramps up the share of an
// endpoint that has just become READY, as Envoy's slow start does.
//
// # Why
//
// round_robin gives every backend the same share of the calls. Backends are
// not all the same: a fleet mixes machine sizes (a 16-core VM next to 4-core
// ones), a canary should get a small slice of the traffic, a backend in a
// far zone should get less. The resolver knows, and says so with a weight
// per endpoint; wrr honours it. (grpc-go's weighted_round_robin, despite its
// name, ignores such weights: it learns its own from ORCA load reports the
// servers must send.)
//
// And round_robin gives a backend its full share the moment its connection
// is READY. A pod that has just started is not ready for that: its JIT has
// compiled nothing, its caches are empty, its connection pools to databases
// and other services are still to fill. Flooded at once it answers slowly,
// times out or falls over, and in a rolling deploy every new pod goes
// through this in turn. Slow start sends it a small share at first and
// raises it over a window, giving it time to warm up on real traffic.
//
// # Usage
//
// Importing the package registers the policy; the service config selects
// it, and the resolver (or a wrapper around it) sets each endpoint's weight
// with endpoint.WithWeight:
//
//	import _ "github.com/grpclb/grpclb/balancer/wrr"
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"wrr": {
//			"slowStart": {"window": "30s", "aggression": 1.0, "minWeightPercent": 10}
//		}}]}`),
//		...)
//
// An endpoint without a weight (or with weight 0) has weight 1, so over a
// resolver that sets none, wrr without slowStart is round_robin. Like
// round_robin, the policy keeps a pick_first child per endpoint
// (grpc-go's endpointsharding), which connects to the endpoint's addresses
// in order; client-side health checking (healthCheckConfig) applies, and
// only READY (and healthy) endpoints get calls.
//
// # Configuration
//
//	{"wrr": {"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}}
//
// Every field is optional, and {} is plain weighted round robin. Unknown
// fields, fields given twice and values out of range are rejected with an
// error that names the field (see ParseConfig). slowStart takes the same
// form as p2c_ewma's:
//
//   - window, default 0 (off), in [0, 1h]: how long a ramp lasts. A string
//     in Go's duration form ("30s", "1m30s"), which covers protobuf's JSON
//     form of a Duration ("10s", "0.5s").
//   - aggression, default 1, in (0, 10]: the shape of the ramp. 1 is
//     linear; above 1 the share rises fast at first and slowly near the
//     end, below 1 the other way round.
//   - minWeightPercent, default 10, in (0, 100]: the share, in percent of
//     its weight, an endpoint starts with; 100 is no ramp.
//
// # Slow start
//
// An endpoint ramps up when it becomes READY for the first time (a new
// endpoint in the resolver's list, or every endpoint when the channel
// starts), and when it becomes READY again after it was in
// TRANSIENT_FAILURE: its connection attempts failed (the backend was down,
// or restarting) or health checking found it unhealthy, so it is taken to
// be cold. A reconnection that never went through TRANSIENT_FAILURE (IDLE,
// CONNECTING, READY, as after a graceful GOAWAY for a server's
// MaxConnectionAge), however long it takes, keeps the endpoint's place on
// its ramp, or its being warm: a healthy backend is not throttled at every
// connection-age cycle. (p2c_ewma follows the same rule.) For window after
// its ramp started, an endpoint of weight w has the weight
//
//	w × max(minWeightPercent/100, (time since the start / window)^(1/aggression))
//
// and then w. With the default aggression and minWeightPercent, a new
// backend joining three warm ones of the same weight starts with 0.1/3.1,
// about 3% of the calls, gets about 14% halfway through the window and its
// full 25% at its end (this package's end-to-end test measures that curve
// through real calls). Endpoints that ramp together (all of them, when a
// channel starts) keep the ratio of their weights: the ramp only holds an
// endpoint back against warmer ones.
//
// An endpoint that leaves the resolver's list is forgotten: if it comes
// back, it is new and ramps up again. Weights are read again on every resolver update, so a
// weight change applies to the next picker.
//
// # Scheduler
//
// Each picker holds a table of endpoint indexes in which every READY
// endpoint appears in proportion to its weight, laid out in the order an
// earliest-deadline-first scheduler would pick them: an endpoint's slots
// are spread evenly (weights 1, 2 and 3 give the cycle 2 1 0 2 1 2), so a
// heavy endpoint does not get its calls in bursts nor a light one wait
// long: in any run of consecutive picks, each endpoint's count is within
// about 1.5 of its share. Pick walks the table with an atomic counter,
// which starts at a random slot so that clients that start together do not
// all begin with the same endpoint.
//
// Integer weights are laid out exactly when their sum, divided by their
// greatest common divisor, is at most 65536 (weights 1, 2, 3 make a table
// of 6). Otherwise, and during a ramp, shares are rounded to a table of at
// most max(4096, 64 × endpoints) slots, and 65536: the smallest share gets
// 100 slots (so within 1% of exact) when that fits, any share is within a
// slot of exact, and every READY endpoint gets at least one slot.
//
// Slow-start weights change all the time, and a table cannot follow them
// continuously. So while some endpoint ramps up, the balancer rebuilds the
// picker every window/20, but no more often than every 100ms, and once more
// when the ramp ends, each time with the weights of that moment (a share
// thus lags its curve by up to one step). A timer owned by the balancer
// does it; it stops when no endpoint ramps, and on Close. Outside ramps the
// picker only changes when an endpoint's state or weight does.
//
// # Cost
//
// Pick takes no lock and allocates nothing: one atomic add, a modulo and
// two loads, whatever the number of endpoints and their weights; there is
// no Done callback. It costs about what round_robin's does. Building a
// table is O(slots + endpoints), off the RPCs' path: about 0.1ms for a
// handful of endpoints and 2ms for a thousand during a ramp (64000 slots),
// at most every 100ms and only while some endpoint ramps up.
package wrr
