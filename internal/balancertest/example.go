package balancertest

import (
	"context"
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// This file holds what the policies' godoc examples share: backends to run
// against, and the client connection an application would make to them.
// Like examples, they exit the program on an error.

// ExampleConn starts n echo backends for an example (ExampleFleet) and
// returns them with a client connection to them, made as an application
// makes one: grpc.NewClient(target, insecure credentials, the service
// config serviceConfig, opts...). The caller closes both.
func ExampleConn(n int, serviceConfig string, opts ...grpc.DialOption) (*grpc.ClientConn, *testbed.Fleet) {
	fleet, target := ExampleFleet(n)
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
	}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		log.Fatal(err)
	}
	return conn, fleet
}

// ExampleWaitAll calls client (waiting for ready) until n different
// backends have answered: until every backend of an example's fleet is
// connected.
func ExampleWaitAll(ctx context.Context, client echopb.EchoClient, n int) {
	seen := map[string]bool{}
	for len(seen) < n {
		resp, err := client.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		if err != nil {
			log.Fatal(err)
		}
		seen[resp.GetBackend()] = true
	}
}
