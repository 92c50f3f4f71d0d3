// Package proxy is grpclb's L7 gRPC proxy: one address for clients that
// cannot balance themselves, balanced per call.
//
// A client that can run a gRPC load-balancing policy (grpc-go, grpc-java
// and C-core with a resolver that sees every backend) spreads its calls
// itself. Many cannot: a browser behind grpc-web, a language runtime
// without the policy, a third party given one hostname. Put an L4 balancer
// (a Kubernetes ClusterIP, a cloud NLB) in front of them and it balances
// connections, not calls: gRPC keeps one HTTP/2 connection per client for
// hours, so each client pins one backend, however many calls it makes.
// The proxy terminates the client's HTTP/2 connection and sends every call
// (every stream) to the backend its cluster's balancing policy picks: a
// client with one connection reaches every backend.
//
// Messages are never decoded: a pass-through codec hands the frames the
// transport received, without copying them, to the upstream call. All four
// call types, request and response metadata, trailers, status codes,
// messages and details, deadlines (grpc-timeout becomes the upstream
// call's deadline) and cancellation in both directions go through. Flow
// control is per stream, so a client that stops reading slows only its
// own call.
//
// A Config maps services ("pkg.Svc") and method prefixes ("/pkg.Svc/Get")
// to clusters; a cluster is a gRPC target for any registered resolver
// (dns:///, dnspoll:///, static:///, kubernetes:///, etcd://, consul://)
// and a balancing policy as service-config JSON, dialled as one
// grpc.ClientConn shared by all calls. A method no route matches is
// answered UNIMPLEMENTED: the proxy is not an open relay. The proxy
// answers grpc.health.v1.Health itself (SERVING, NOT_SERVING while
// draining) and, if configured, grpc.reflection, unless a route claims
// them.
//
// Reload swaps routes and clusters atomically; calls in flight finish on
// the connections they started on, which are closed after their last
// call. A hedged route whose label and hedge policy a reload leaves as
// they were keeps its Hedger: its budget, adaptive delay and counters.
// Drain takes the proxy out of service without failing calls.
// AdminHandler serves Prometheus metrics per route and upstream endpoint
// (grpclb_proxy_requests_total, request_duration_seconds,
// requests_in_flight, unrouted_requests_total, config_reloads_total by
// result, both results present from the start, the hedged routes'
// grpclb_proxy_hedge_*_total, and build_info), /healthz
// and /readyz. Admin is plain HTTP without authentication: keep it on
// loopback or behind an authenticating hop. `grpclb proxy --config
// proxy.yaml` runs it.
//
// Frames serves the same Config on a second data plane, the command's
// default (`grpclb proxy --data-plane=frames`): it relays each call's HTTP/2
// frames between the client's connection and a backend's instead of
// running a grpc-go server stream and client stream per call, at
// HAProxy's speed for under half of Proxy's CPU on this project's
// machine. Its memory is bounded by flow control (limits.maxBufferedBytes
// lends the connection windows), it never decompresses messages, and it
// reloads, retries or hedges idempotent routes, logs and counts calls as
// Proxy does. A cluster's policy is its loadBalancingConfig there (Proxy
// applies a whole service config, methodConfig included).
package proxy
