// Package consul registers a gRPC server with a Consul agent, with a real
// gRPC health check, so that clients using grpclb's resolver/consul (or
// Consul DNS, or any Consul-aware client) find it while it serves.
//
// Outside Kubernetes, services often register in Consul. Consul's agents
// speak grpc.health.v1 natively, but the Go helpers that register gRPC
// servers use HTTP or TCP checks, or a TTL, which say that the port is open
// rather than that the server is SERVING; and few of them notice that the
// agent restarted and forgot the registration. Register:
//
//	reg, err := consul.Register(ctx, client, consul.Service{
//		Name: "echo", Address: "10.0.0.1", Port: 50051,
//		Tags: []string{"grpc", "v2"}, Meta: map[string]string{"zone": "a"},
//	})
//	...
//	defer reg.Deregister(context.Background())
//
// registers the instance with a check of type gRPC (Consul calls
// grpc.health.v1.Health/Check on Address:Port every 5s, WithGRPCCheck), or
// with a TTL check kept passing by a goroutine (WithTTLCheck), and keeps
// it registered: when the agent no longer knows it (restarted without its
// state), it is registered again within the resync period.
//
// For a clean shutdown, deregister before the server stops serving, so
// clients stop sending it new calls while it finishes the ones in flight.
// Registration.Deregister has the type of a server.Drain hook:
//
//	server.Drain(ctx, srv, server.DrainConfig{
//		OnNotServing: []func(context.Context) error{reg.Deregister},
//	})
//
// Even without the hook, server.Drain's NOT_SERVING fails the gRPC check,
// which removes the instance within one check interval.
package consul
