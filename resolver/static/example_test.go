package static_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/resolver/static"
)

// roundRobin is the examples' service config: each client spreads its
// calls over every address the resolver publishes.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// startServer starts a gRPC server with the health service on a loopback
// address, standing in for a real backend. It returns its address and a
// function that stops it.
func startServer() (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	return lis.Addr().String(), srv.Stop
}

// printHealth prints the health status the backends behind conn report.
func printHealth(conn *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
}

// Balance RPCs over a fixed list of backends with round_robin. Importing the
// package (even as import _ "github.com/grpclb/grpclb/resolver/static")
// registers the "static" scheme.
func Example() {
	addr1, stop1 := startServer() // e.g. "10.0.0.1:50051"
	defer stop1()
	addr2, stop2 := startServer() // e.g. "10.0.0.2:50051"
	defer stop2()

	conn, err := grpc.NewClient(
		"static:///"+addr1+","+addr2,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	printHealth(conn)
	// Output: SERVING
}

// Watch a file of backends, kept up to date by something else (config
// management, a sidecar), with a builder of your own options.
func ExampleNewBuilder() {
	addr, stop := startServer()
	defer stop()

	dir, err := os.MkdirTemp("", "static-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "backends.txt")
	// One address per line; '#' starts a comment. Replace the file by
	// renaming a new one onto it; the resolver sees the change within the
	// polling interval and publishes the new list.
	if err := os.WriteFile(path, []byte("# myapp backends\n"+addr+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	builder := static.NewBuilder(static.Options{
		Interval: 2 * time.Second, // targets can override it: &interval=500ms
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	conn, err := grpc.NewClient("static:///?file="+path, grpc.WithResolvers(builder),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	printHealth(conn)
	// Output: SERVING
}
