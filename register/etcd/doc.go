// Package etcd registers a gRPC server in etcd, so that clients using
// grpclb's resolver/etcd (or etcd's own naming/resolver) find it.
//
// Outside Kubernetes nobody tells the clients where a service runs: each
// instance registers itself and clients watch the registry. etcd's
// naming/endpoints package writes the keys but leaves the rest to its
// caller: granting a lease, keeping it alive, noticing that it was lost
// (etcd restarted without its data, or could not be reached for a whole
// TTL) and registering again, and taking the key away before the server
// stops. Register does all of that:
//
//	reg, err := etcd.Register(ctx, client, "service/echo", "10.0.0.1:50051",
//		etcd.WithTTL(10*time.Second), etcd.WithMetadata(map[string]string{"zone": "a"}))
//	...
//	defer reg.Deregister(context.Background())
//
// The key is prefix + "/" + addr and the value is exactly what
// endpoints.Manager.AddEndpoint writes (it is written with it):
//
//	service/echo/10.0.0.1:50051 → {"Op":0,"Addr":"10.0.0.1:50051","Metadata":{"zone":"a"}}
//
// attached to a lease of the TTL (default 10s). If the process dies, the
// lease expires and the instance disappears within the TTL. If etcd loses
// the lease, the instance is registered again with a new lease as soon as
// etcd answers.
//
// For a clean shutdown, deregister before the server stops serving, so
// clients stop sending it new calls while it finishes the ones in flight.
// Registration.Deregister has the type of a server.Drain hook:
//
//	server.Drain(ctx, srv, server.DrainConfig{
//		OnNotServing: []func(context.Context) error{reg.Deregister},
//	})
package etcd
