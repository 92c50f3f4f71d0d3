package pool_test

import (
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/pool"
)

// Eight ClientConns to one VIP, used by a generated client as if they were
// one.
func Example() {
	p, err := pool.Dial("backend.default.svc.cluster.local:50051", 8,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	client := healthpb.NewHealthClient(p)
	_ = client
}
