// Package grpclb is the one-line entry point of the grpclb toolkit:
// NewClient is grpc.NewClient with the settings a production gRPC client
// needs to spread its calls and survive its backends.
//
// gRPC keeps long-lived HTTP/2 connections, so grpc-go's defaults
// (pick_first, no retries, no health checking, no keepalive) send every
// call of a client to one backend, keep sending to a backend that drains
// or hangs, and fail the calls in flight on one that dies. NewClient
// starts from Defaults:
//
//   - p2c_ewma (balancer/p2c): per call, the cheaper of two backends by
//     latency × calls in flight, which steers away from slow and stuck
//     backends without server-side metrics, under outlier_ejection
//     (balancer/outlier), which takes a backend whose calls fail out of
//     rotation for a while;
//   - client-side health checking (grpc.health.v1): a backend that turns
//     NOT_SERVING (server.Drain does on SIGTERM) gets no new calls;
//   - for the methods marked with WithIdempotent, a retry policy on
//     UNAVAILABLE (4 attempts, 20ms to 500ms backoff), so a backend killed
//     under load fails none of them;
//   - keepalive pings every 10s, unanswered after 3s closing the
//     connection (servers must accept 10s pings: server.Options does).
//
// The lab's kill figures: three backends under load, one reset three
// times, grpc-go defaults with round_robin lost 16 calls, NewClient none
// (TestKillUnderLoadFailsNoIdempotentCall).
//
// Plain grpc-go users get the same from DialOptions (or the JSON of
// ServiceConfig with grpc.WithDefaultServiceConfig), and can keep their
// own grpc.NewClient call.
package grpclb
