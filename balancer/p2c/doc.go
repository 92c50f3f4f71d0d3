// Package p2c implements p2c_ewma, a gRPC load-balancing policy that sends
// each call to the better of two endpoints picked at random, judged by an
// EWMA of latency and the calls in flight: power of two choices as in
// Finagle and Linkerd, made to hold under heavy concurrency, fair to
// identical backends, and forgiving to backends that recover.
//
// # Why
//
// round_robin gives every backend the same share of the calls, whatever its
// speed. When one backend is slow (a noisy neighbour, a long GC, a cold
// cache, a failing disk) it still gets its full share: with five backends
// one call in five waits for it, and the p99 of the whole fleet is the slow
// backend's latency (for requests that fan out, even the median is).
// grpc-go's least_request looks only at calls in flight, which tell a slow
// backend from a fast one only once calls pile up; its weighted_round_robin
// needs the servers to send ORCA load reports.
//
// p2c_ewma needs nothing from the servers. It times each call on the client,
// from the pick to the end of the call, and for every call picks two
// distinct READY endpoints at random and compares them in three steps:
//
//  1. Probe: an endpoint with nothing in flight that has had no pick and
//     no sample for 4 of its usual gaps between picks (at least a hundredth
//     of probeInterval, at most all of it) is taken, once. What is known of
//     it is stale: only a call tells whether a backend that was slow,
//     failing or frozen has recovered, and that call's sample, if lower,
//     replaces its EWMA (a higher one is averaged in: the first call after
//     a pause is often slow for reasons of the caller's). A backend that
//     stays bad sees its gap, and so the spacing of its probes, grow with
//     each probe, up to probeInterval.
//
//  2. Avoid: if one endpoint's latency is more than tolerance times the
//     other's, the one with the lower cost wins,
//
//     cost = latency × (calls in flight + m),  m = 1 + the two's mean calls in flight
//
//  3. Take turns: otherwise the two are alike, and the one with fewer calls
//     in flight wins, then the one whose turn it is: each endpoint has a
//     pass that each of its picks moves on (stride scheduling), and an
//     endpoint that missed turns (avoided, frozen, ejected) is given at most
//     four back. The noise in the latencies of identical backends thus never
//     decides, and they share calls as evenly as round robin: in the lab's
//     fairness scenarios (3 and 10 backends, 1 to 64 callers) the busiest
//     backend takes at most 1.13× the calls of the least used over any
//     second, and 1.011× over the run.
//
// latency is an EWMA of the endpoint's latencies. With nothing
// else in flight this is Finagle's and Linkerd's latency × (in flight + 1).
// Under load m keeps latency in the comparison: with a plain + 1, 64
// callers over four busy backends (16 calls in flight each) would rate an
// idle backend 16× slower as no dearer than a busy healthy one and keep
// sending it calls; with + m, calls in flight make up for less than 3× the
// latency, and between backends of equal latency they still decide.
//
// In the lab's slow scenario (five backends, one answering 50ms slower, 64
// callers) round_robin sends the slow one 20% of the calls and the p99 of
// all calls is its latency; p2c_ewma sends it under 0.1% of them (probes),
// and the p99 and p99.9 are no worse than a fleet without it. In the
// recover scenario a backend frozen for 8s has its share back within half
// a second of the thaw.
//
// # Usage
//
// Importing the package registers the policy; the service config selects
// it:
//
//	import _ "github.com/grpclb/grpclb/balancer/p2c"
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"p2c_ewma": {}}]}`),
//		...)
//
// Like round_robin, the policy keeps a pick_first child per endpoint
// (grpc-go's endpointsharding), which connects to the endpoint's addresses
// in order; client-side health checking (healthCheckConfig) applies.
//
// # Configuration
//
//	{"p2c_ewma": {"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s",
//	              "probeInterval": "1s", "tolerance": 3}
//
// Every field is optional. Durations are strings in Go's form ("250ms",
// "1m30s"), which covers protobuf's JSON form of a Duration ("10s",
// "0.5s"). Unknown fields, fields given twice and values out of range are
// rejected with an error that names the field (see ParseConfig).
//
//   - decay, default 10s, in (0, 1h]: the time constant of the EWMA; a
//     sample's weight falls to 1/e after decay. Shorter forgets a slow spell
//     sooner and follows noise more.
//   - defaultRTT, default 10ms, in (0, 1h]: the latency the first endpoints
//     are assumed to have until their first calls finish. Endpoints that
//     join later start at the median EWMA of those already sampled: a new
//     backend is taken to be like the others, so it gets calls at once,
//     and its first sample replaces the assumption.
//   - errorPenalty, default 1s, in [0, 1h]: the latency a call that failed
//     with an unwell code counts as, at least; 0 counts it at its own.
//   - probeInterval, default 1s, in (0, 1h]: the longest an endpoint goes
//     without a call (see Probe above); a recovered backend gets calls
//     again within about this long, a bad one gets about one call this
//     often.
//   - tolerance, default 3, in [1, 100]: endpoints whose latencies are
//     within this factor of each other take turns; 1 is classic P2C, where
//     every difference counts.
//   - slowStart, default off: {"window": "10s", "aggression": 1.0,
//     "minWeightPercent": 10}, as wrr's. For window after an endpoint's
//     ramp starts, its latency is divided by its weight
//     max(minWeightPercent/100, (time since the start / window)^(1/aggression)),
//     as in Envoy's slow start, and its turns and probes are spaced by it:
//     a cold pod (empty caches, a JIT not yet warm, connection pools still
//     to fill) is kept out while its weight is under 1/tolerance and then
//     gets a growing share instead of a flood. The ramp starts when an
//     endpoint becomes READY for the first time (new in the resolver's
//     list, or when the channel starts), and when it becomes READY again
//     after it was in TRANSIENT_FAILURE: its connection attempts failed
//     (the backend was down, or restarting) or health checking found it
//     unhealthy, so it is taken to be cold. A reconnection that never went
//     through TRANSIENT_FAILURE (IDLE, CONNECTING, READY, as after a
//     graceful GOAWAY for a server's MaxConnectionAge) keeps the endpoint's
//     place on its ramp, or its being warm, so a healthy backend is not
//     throttled at every connection-age cycle. An endpoint that leaves the
//     list and comes back starts over. window is in [0, 1h] (0 is off),
//     aggression in (0, 10] (1 is linear, above 1 faster at first),
//     minWeightPercent in (0, 100] (100 is no ramp).
//
// # Samples
//
// A call's latency runs from the pick to the call's end. For a streaming
// call that is the life of the stream, so the policy is meant for unary
// traffic: channels that hold long-lived streams should use another policy.
// Each finished call is one sample:
//
//   - Pull: a sample pulls the EWMA towards itself with weight
//     1 - exp(-Δt/decay), Δt the time since the previous sample, and at
//     least 1/8, in the geometric mean (EWMA^w × sample^(1-w)) for an
//     answered call. Latencies are heavy-tailed: a GC pause or a
//     descheduled thread makes one call of a healthy backend 10× slower,
//     which moves the geometric mean 1.33× and the arithmetic one 2×.
//     With the arithmetic mean and a 2× band, such hiccups took identical
//     backends out of turn (10 backends × 8 callers: 1.4–1.6 max/min over
//     1 s windows); with the geometric mean and a 3× band, 1.03–1.05. A
//     backend 50× slower leaves the band on its third call, and its calls
//     in flight count at once (see latency). (A peak EWMA, which takes a
//     higher sample whole, split identical backends 2:1.)
//   - Fresh: an endpoint's first sample replaces the EWMA, and so does a
//     lower sample or a failure after it went without one for its stale
//     time (see Probe). Stale evidence is forgotten only in the backend's
//     favour: a probe that is slow because the caller's thread or the idle
//     connection had to wake up must not push an identical backend out of
//     the band again (it left one of three identical backends with a
//     quarter of its share for 1.5 s on a busy machine).
//   - Unwell: a call that failed with Unavailable, DeadlineExceeded,
//     Internal, ResourceExhausted or Unknown (which includes errors that are
//     not gRPC statuses) counts as max(latency, errorPenalty), so that a
//     backend failing fast does not look fast, and pulls in the
//     arithmetic mean: a failure is evidence, not noise, and one makes a
//     fast endpoint about 12× dearer at once. DeadlineExceeded counts even
//     when the caller's deadline was too short for any backend.
//   - Answered: any other code (NotFound, InvalidArgument,
//     PermissionDenied, ...) is an answer of a working backend and counts
//     as its latency.
//   - Ignored: a call cancelled by its caller (Canceled) says nothing about
//     the backend, nor does a call that never reached it (grpc-go ends a
//     pick whose connection turned out not to be ready with no error and
//     nothing sent). They only leave the count of calls in flight.
//
// # Idle, stalled and reconnected endpoints
//
// An endpoint with nothing in flight is seen at pick time with its EWMA
// decayed towards zero by the time since its last sample, as Finagle and
// Linkerd do, so that an estimate a little above its rivals' drifts back
// among them; probes (above) bring back the rest.
//
// An endpoint with calls in flight is not decayed: it will hear of itself
// when they finish. Until then, if none of its calls has finished for
// longer than its EWMA (counting from when it last became busy), that stall
// is taken as its latency. A backend that stops answering (a frozen
// process, a blackholed network) thus gets dearer by the millisecond, not
// only by the call, and is not probed while its calls are stuck.
//
// Stats are kept per READY endpoint in the balancer, not in a picker: they
// survive new pickers and new resolver lists that keep the endpoint. An
// endpoint that leaves READY (a reconnect after a GOAWAY, a restarted or
// failed backend) or the list is forgotten, and starts afresh when READY
// again, at the median EWMA and gap of the others: a restarted backend does
// not inherit its previous process's penalty. (Its slow-start ramp follows
// the rule under slowStart above: a graceful reconnection does not restart
// it.)
//
// # Cost
//
// Pick takes no lock and allocates nothing, Done included: one random
// number gives both choices, and the call's start time travels in a pooled
// tracker whose Done method value is bound once, when the tracker is made.
// Finished calls update the EWMA with a compare-and-swap. Reading the
// monotonic clock at the pick and at Done is most of the cost; it does not
// depend on the number of endpoints (1.27× from 10 to 10,000 endpoints,
// internal/balancertest's TestPickFlatToTenThousand).
package p2c
