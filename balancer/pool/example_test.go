package pool_test

import (
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	_ "github.com/grpclb/grpclb/balancer/pool" // registers "pool"
)

// A service behind one VIP (a ClusterIP, a cloud TCP load balancer): eight
// connections, so the VIP spreads them over its backends, and calls in turn
// over the connections.
func Example() {
	conn, err := grpc.NewClient("backend.default.svc.cluster.local:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"pool":{"connections":8}}]}`),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}
