package server_test

import (
	"context"
	"log"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/server"
)

// A server whose connections age out after a minute, so clients re-resolve
// and spread over new backends, and which drains on SIGTERM.
func Example() {
	opts, err := server.Options(server.Config{
		MaxConnectionAge:      time.Minute,
		MaxConnectionAgeGrace: 20 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	// Register your services here.

	lis, err := net.Listen("tcp", ":50051")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()

	// On SIGINT or SIGTERM: NOT_SERVING, wait 5s for clients to notice,
	// then a graceful stop of at most 30s.
	if err := server.DrainOnSignal(context.Background(), srv, server.DrainConfig{
		Health:  hs,
		Grace:   5 * time.Second,
		Timeout: 30 * time.Second,
	}); err != nil {
		log.Print(err)
	}
}
