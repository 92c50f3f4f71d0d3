package consul_test

import (
	"context"
	"log"
	"net"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/register/consul"
	"github.com/grpclb/grpclb/server"
)

// A server that registers itself with the local agent once it serves, with
// a gRPC health check, and on SIGTERM deregisters (so clients stop picking
// it) before it drains and stops.
func Example() {
	lis, err := net.Listen("tcp", "10.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs) // what Consul's gRPC check calls
	// Register services on srv here.
	go srv.Serve(lis)

	client, err := api.NewClient(api.DefaultConfig()) // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN...
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := consul.Register(ctx, client, consul.Service{
		Name: "echo", Address: "10.0.0.1", Port: 50051,
		Tags: []string{"grpc", "v2"}, Meta: map[string]string{"zone": "eu-1a"},
	}, consul.WithGRPCCheck(5*time.Second), consul.WithInitialPassing())
	if err != nil {
		log.Fatal(err)
	}
	err = server.DrainOnSignal(context.Background(), srv, server.DrainConfig{
		Health:       hs,
		OnNotServing: []func(context.Context) error{reg.Deregister},
	})
	if err != nil {
		log.Print(err)
	}
}
