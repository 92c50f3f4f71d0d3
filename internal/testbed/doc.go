// Package testbed runs the real parts that grpclb's tests and its lab need on
// one machine, all on loopback: gRPC backends on distinct 127.0.0.x addresses
// sharing one port (like pods behind a headless Service), a DNS server whose
// records change at run time, and a VIP (an L4 TCP forwarder that picks a
// backend per connection, like kube-proxy or a cloud load balancer).
//
// Backends answer the echo service (echopb) with their identity, the standard
// health service and server reflection. Faults are injected per backend:
// latency, an error rate, a graceful stop, an abrupt kill (connections reset),
// a restart on the same address, and a freeze (connections stay open and the
// kernel keeps accepting, but nothing is read or answered, like a SIGSTOPped
// process or a network blackhole).
package testbed
