// Package framerelay is a gRPC proxy data plane, grpclb proxy's default, that
// relays HTTP/2 frames between a client's connection and connections to
// the backends, balancing each stream (each call) over the backends,
// without gRPC's server or client stream machinery.
//
// grpclb proxy forwards every call through a grpc-go server stream and a
// grpc-go client stream. Its own code is about 1% of its CPU profile; the
// rest is grpc-go building and tearing down two streams a call (header
// decoding into metadata and back, contexts, stream objects, goroutines)
// and it spends 2-4 times HAProxy's CPU per call. This package measures
// the alternative the proxy issue names: headers are HPACK-decoded once
// (to route and re-encode for the other connection), DATA frames are
// copied from one connection's read buffer to the other's write buffer,
// and each connection's writes are batched by one flusher goroutine.
//
// It keeps HTTP/2's flow control end to end: it grants a client stream
// at most StreamWindow bytes and the connection ConnWindow, and gives
// window back only for bytes it has written to the other side, so a
// backend that stops reading stops the client (and the other way round)
// instead of making the relay buffer. A peer that sends past the window
// it was given loses its connection (FLOW_CONTROL_ERROR). A connection's
// window starts at HTTP/2's initial 64 KiB and grows as its peer uses it;
// what it grows beyond 64 KiB is lent by a budget the whole relay shares
// (Limits.MaxBufferedBytes), so the relay holds at most the budget plus
// 64 KiB per connection however many clients push at stalled backends.
// The data of a call that ends early is dropped and its window given
// back.
//
// Calls are routed as grpclb proxy routes them (proxy/internal/routing):
// by the longest method prefix, after refusing any path that is not
// exactly /service/method. Each cluster runs a registered resolver and
// policy the way grpc.ClientConn does, over the relay's own connections.
// A call whose cluster has no backend to offer yet waits for one (at most
// 20 s) on a goroutine of its own, holding the DATA its client sends
// meanwhile (at most a stream window), so the client connection's other
// calls go on.
//
// With routes, the relay answers grpc.health.v1 itself (unless a route
// claims it), from a grpc.Server on an in-memory connection that it
// reaches as the one backend of a cluster of its own: a routed service is
// SERVING while one of its routes' clusters has a READY policy, and the
// relay as a whole ("") while any cluster has.
//
// Clients may connect over TLS (Serve on a tls.Listener offering ALPN h2)
// and a cluster's backends may be dialled over TLS (Cluster.TLS).
//
// Request headers pass through as the client sent them (gRPC's timeout
// and encodings included: messages are never decompressed), except HTTP/1
// connection headers and grpc-previous-rpc-attempts; the client's address
// is appended to x-forwarded-for.
//
// Limits bound what clients may use: calls per connection, header list
// size, connections, idle and handshake timeouts, connection age, and the
// bytes held (by flow control, above).
//
// Drain stops it gracefully: health NOT_SERVING, a grace, then GOAWAY to
// every client, whose calls in flight go on (new ones are refused, for
// the client to retry elsewhere) until they end or the drain's time is
// up.
//
// With Config.Reflection it answers grpc.reflection for its own services
// (a route can send reflection to a cluster instead).
//
// A route's timeout caps its calls' deadline: the backend is sent it as
// grpc-timeout, and a call still in flight when it passes is reset on
// its backend and ended with DEADLINE_EXCEEDED.
//
// An Observer hears of every routed call's start and end (route,
// method, client, backend, status code, time, message bytes each way),
// for metrics and access logs.
//
// Limits can bound the messages' sizes as they cross (compressed, if they
// are): a call over them is reset on its backend and ends
// RESOURCE_EXHAUSTED.
//
// Reload swaps in a new config's routes, clusters and observer at once:
// new calls take the new routes, calls in flight finish on the clusters
// they started on, a cluster no longer in use is closed after its last
// call, and a cluster whose Key did not change is kept, connections and
// all.
//
// A route with a RetryPolicy retries its calls, which must be unary: the
// request is held whole (at most a stream window) and sent again when an
// attempt fails before any response. A route with a Hedger hedges them
// instead: attempts race on the backends the policy picks, a delay apart,
// within the Hedger's budget; the first to answer wins, and the others
// are reset.
//
// grpclb proxy runs it by default (--data-plane=frames, proxy.Frames),
// and the lab's proxy scenario measures it there as proxy+grpclb-frames,
// beside grpclb proxy's grpc-go data plane and HAProxy.
package framerelay
