// Package p2c implements p2c_ewma, a gRPC load-balancing policy that sends
// each call to the less loaded of two endpoints picked at random, where the
// load of an endpoint is a peak EWMA of its latency times its calls in
// flight: power of two choices over peak EWMA, as in Finagle and Linkerd,
// made to hold under heavy concurrency.
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
// distinct READY endpoints at random and sends the call to the one with the
// lower cost
//
//	cost = latency × (calls in flight + m),  m = 1 + the two's mean calls in flight
//
// where latency is a peak EWMA of the endpoint's latencies. With nothing
// else in flight this is Finagle's and Linkerd's latency × (in flight + 1).
// Under load m keeps latency in the comparison: with a plain + 1, 64
// callers over four busy backends (16 calls in flight each) would rate an
// idle backend 16× slower as no dearer than a busy healthy one and keep
// sending it calls; with + m, calls in flight make up for less than 3× the
// latency, and between backends of equal latency they still decide.
//
// In the lab's slow scenario (five backends, one answering 50ms slower, 64
// callers) round_robin sends the slow one 20% of the calls and the p99 of
// all calls is its latency; p2c_ewma sends it under 0.1% of them, and the
// p99 and p99.9 are within 1.2× of a fleet without it.
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
//	{"p2c_ewma": {"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}}
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
//   - slowStart, default off: {"window": "10s", "aggression": 1.0,
//     "minWeightPercent": 10}. For window after an endpoint becomes READY
//     (new, or back after it was not READY), its cost is divided by
//     max(minWeightPercent/100, (time since READY / window)^(1/aggression)),
//     as in Envoy's slow start: a cold pod (empty caches, a JIT not yet warm,
//     connection pools still to fill) looks dearer than it is and gets a
//     growing share instead of a flood. The EWMA alone reacts only once its
//     first, slow, calls finish; slow start holds it back before that.
//
// # Samples
//
// A call's latency runs from the pick to the call's end. For a streaming
// call that is the life of the stream, so the policy is meant for unary
// traffic: channels that hold long-lived streams should use another policy.
// Each finished call is one sample:
//
//   - Peak: a sample above the EWMA replaces it at once; a backend that
//     turns slow is avoided from its first slow call.
//   - Decay: a sample below the EWMA pulls it towards the sample with
//     weight 1 - exp(-Δt/decay), Δt the time since the previous sample,
//     and at least 1/32: recovery runs at a pace set by time while calls
//     are sparse, and within tens of calls when they are frequent. (With the
//     time-based weight alone, a backend answering every few hundred
//     microseconds would hold its largest sample of the last decay: a
//     healthy backend with the odd 15ms hiccup would look nearly as slow as
//     one 50ms slower on every call.)
//   - First: an endpoint's first sample replaces its assumed latency.
//   - Unwell: a call that failed with Unavailable, DeadlineExceeded,
//     Internal, ResourceExhausted or Unknown (which includes errors that are
//     not gRPC statuses) counts as max(latency, errorPenalty), so that a
//     backend failing fast does not look fast. DeadlineExceeded counts even
//     when the caller's deadline was too short for any backend.
//   - Answered: any other code (NotFound, InvalidArgument,
//     PermissionDenied, ...) is an answer of a working backend and counts
//     as its latency.
//   - Ignored: a call cancelled by its caller (Canceled) says nothing about
//     the backend, nor does a call that never reached it (grpc-go ends a
//     pick whose connection turned out not to be ready with no error and
//     nothing sent). They only leave the count of calls in flight.
//
// # Idle and stalled endpoints
//
// An endpoint that was slow once, or failed and took the penalty, would
// keep its high EWMA if nothing else happened: it would get no call, so no
// sample would bring its EWMA down. So an endpoint with nothing in flight is
// seen at pick time with its EWMA decayed towards zero by the time since its
// last sample, as Finagle and Linkerd do (the stored EWMA is left alone:
// Pick writes nothing but the count of calls in flight). Its cost falls
// until it is below a rival's and it gets a call; while that call is in
// flight it is seen at its full EWMA again, with a call in flight, so it is
// probed one call at a time, and the probe's sample decides. The wait is
// about decay × ln(its EWMA / the rivals' cost): with the defaults, about
// 40s for a backend that was 50ms slow among backends at 1ms, and 70s after
// a 1s error penalty, less when the rivals are busy (by up to ln 3 × decay).
// A shorter decay brings such backends back sooner.
//
// An endpoint with calls in flight is not decayed: it will hear of itself
// when they finish. Until then, if none of its calls has finished for
// longer than its EWMA (counting from when it last became busy), that stall
// is taken as its latency. A backend that stops answering (a frozen
// process, a blackholed network) thus gets dearer by the millisecond, not
// only by the call: in the end-to-end test, with 16 callers and one of five
// backends frozen, a handful of calls get stuck on it and the others go
// on, where under round_robin every caller is stuck on it within
// milliseconds.
//
// Stats are kept per endpoint (by its addresses) in the balancer, not in a
// picker: they survive new pickers, reconnects (after a GOAWAY for
// MaxConnectionAge, say) and new resolver lists that keep the endpoint. An
// endpoint that leaves the resolver's list is forgotten.
//
// # Cost
//
// Pick takes no lock and allocates nothing, Done included: one random
// number gives both choices, and the call's start time travels in a pooled
// tracker whose Done method value is bound once, when the tracker is made.
// Finished calls update the EWMA with a compare-and-swap. Reading the
// monotonic clock at the pick and at Done is most of the cost; it does not
// depend on the number of endpoints.
package p2c
