// Package outlier implements outlier_ejection, a gRPC load-balancing policy
// that takes backends whose calls fail out of rotation for a while, in
// front of any other policy (round_robin, p2c_ewma, consistent_hash, pool,
// pick_first, ...).
//
// # Why
//
// A backend that fails every call (a broken deploy, a full disk, a lost
// dependency) or hangs until the deadline usually keeps its connection
// READY and its health check SERVING, so round_robin keeps sending it its
// share: with three backends, one call in three fails, for as long as the
// backend stays broken. grpc-go implements outlier detection (gRFC A50)
// only inside its xDS packages, reachable only through an xDS control
// plane. This policy brings it to any channel through the service config,
// with one more detector, consecutive failures, that takes a backend
// failing fast out after a handful of calls instead of at the next
// interval.
//
// # Usage
//
// Importing the package registers the policy; the service config selects
// it and names the child policy that balances over the endpoints that are
// not ejected:
//
//	import _ "github.com/grpclb/grpclb/balancer/outlier"
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"outlier_ejection": {
//			"consecutiveFailures": {"threshold": 5},
//			"failurePercentage": {"threshold": 50, "minimumHosts": 3, "requestVolume": 20},
//			"childPolicy": [{"round_robin": {}}]
//		}}]}`),
//		...)
//
// # Detectors
//
// Each call's outcome is counted for the endpoint it went to, when the
// call ends. A call that ends with one of the failure codes
// (failureStatusCodes; by default UNAVAILABLE, DEADLINE_EXCEEDED,
// INTERNAL, UNKNOWN and RESOURCE_EXHAUSTED, where errors that are not
// statuses count as UNKNOWN) is a failure; any other code is a success,
// since NOT_FOUND or PERMISSION_DENIED come from a working backend. A call
// cancelled by its caller, or that never reached the backend, is not
// counted.
//
//   - consecutiveFailures ejects an endpoint as soon as threshold calls in
//     a row to it have failed (Envoy's consecutive_5xx), from the call
//     that makes the count: a backend failing every call in a millisecond
//     is out after threshold calls, whatever the interval.
//   - successRate (A50) runs every interval over the endpoints that had at
//     least requestVolume calls in the last interval, if there are at
//     least minimumHosts of them, and ejects those whose success rate is
//     below mean - stdev × stdevFactor/1000. A lone outlier among n
//     endpoints is at most √(n-1) standard deviations from the mean, so
//     the default factor 1.9 needs five endpoints or more (hence
//     minimumHosts 5); with fewer, lower stdevFactor or use
//     failurePercentage.
//   - failurePercentage (A50) runs every interval over the same kind of
//     set and ejects the endpoints whose percentage of failed calls in the
//     last interval is above threshold.
//
// A detector is on when its object is in the config. When none is,
// consecutiveFailures is on with threshold 5. An endpoint found by
// successRate or failurePercentage is ejected with probability
// enforcementPercentage/100 (default 100; A50 defaults failurePercentage's
// to 0 because Envoy runs that detector on every cluster, where here
// writing it is the opt-in).
//
// # Ejection
//
// An endpoint's n-th ejection in a row lasts baseEjectionTime × n, at most
// max(baseEjectionTime, maxEjectionTime); every interval in which the
// endpoint is not ejected brings n down by one (A50). When its time is up
// (to the timer, not at the next interval) the endpoint is back with its
// consecutive failures forgotten, and is ejected again if it keeps
// failing, for longer.
//
// At most maxEjectionPercent of the endpoints are ejected at once (of the
// resolver's list, rounded down), but one always may be (A50), and never
// the last one unless maxEjectionPercent is 100: an endpoint the limit
// keeps in stays in rotation, failing calls included.
//
// Ejected endpoints get no calls. The child policy sees an ejected
// endpoint's SubConns in TRANSIENT_FAILURE, as with grpc-go's outlier
// detection: through the SubConn's health listener when the child
// registered one (the pick_first children of round_robin, p2c_ewma,
// consistent_hash, least_request and other endpointsharding policies do;
// gRFC A61), or else by turning READY into TRANSIENT_FAILURE on its state
// listener (pool, or pick_first as the child itself, which then moves to
// another address). The policy's picker also skips any ejected endpoint
// the child picks before it has heard of the ejection.
//
// Ejections and returns are logged by grpclog's component
// "outlier_ejection" at INFO.
//
// # Configuration
//
//	{
//	  "interval": "10s",
//	  "baseEjectionTime": "30s",
//	  "maxEjectionTime": "300s",
//	  "maxEjectionPercent": 10,
//	  "consecutiveFailures": {"threshold": 5},
//	  "successRate": {"stdevFactor": 1900, "enforcementPercentage": 100,
//	                  "minimumHosts": 5, "requestVolume": 100},
//	  "failurePercentage": {"threshold": 85, "enforcementPercentage": 100,
//	                        "minimumHosts": 5, "requestVolume": 50},
//	  "failureStatusCodes": ["UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL",
//	                         "UNKNOWN", "RESOURCE_EXHAUSTED"],
//	  "childPolicy": [{"round_robin": {}}]
//	}
//
// shows every field at its default (the three detectors' objects with
// their fields' defaults; by default only consecutiveFailures is on).
// Durations are strings in Go's form ("250ms", "1m30s"), in (0, 1h].
// Percentages and failurePercentage.threshold are integers in [0, 100];
// consecutiveFailures.threshold and requestVolume are at least 1.
// childPolicy is a list like loadBalancingConfig: the first registered
// policy is used, with its own config. Unknown fields, fields given twice,
// values out of range, unknown codes, CANCELLED and OK as failures, and
// child policies that are not registered are rejected with an error that
// names the field (see ParseConfig).
//
// Changing childPolicy to another policy rebuilds the child: its
// connections are made anew (grpc-go's graceful switch is internal).
//
// # Cost
//
// A pick calls the child's picker and reads two atomics; the call's end
// adds one to an atomic counter of its endpoint. Over round_robin the
// policy does round_robin's round robin itself, over an array of the READY
// endpoints' SubConns, so that a pick costs the same at 10,000 endpoints as
// at 10 (about 9 ns). Locks are taken only to eject. The detectors run on
// the policy's own goroutine every interval, in time linear in the number
// of endpoints.
package outlier
