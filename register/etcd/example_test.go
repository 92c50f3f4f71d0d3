package etcd_test

import (
	"context"
	"log"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/register/etcd"
	"github.com/grpclb/grpclb/server"
)

// A server that registers itself once it listens, and on SIGTERM
// deregisters (so clients stop picking it) before it drains and stops.
func Example() {
	lis, err := net.Listen("tcp", "10.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	// Register services on srv here.
	go srv.Serve(lis)

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"10.0.0.5:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := etcd.Register(ctx, cli, "service/echo", lis.Addr().String(),
		etcd.WithTTL(10*time.Second),
		etcd.WithMetadata(map[string]string{"zone": "eu-1a"}))
	if err != nil {
		log.Fatal(err)
	}
	// Blocks until SIGINT or SIGTERM; then NOT_SERVING, Deregister, a grace
	// period for clients to notice, and a graceful stop.
	err = server.DrainOnSignal(context.Background(), srv, server.DrainConfig{
		OnNotServing: []func(context.Context) error{reg.Deregister},
	})
	if err != nil {
		log.Print(err)
	}
}
