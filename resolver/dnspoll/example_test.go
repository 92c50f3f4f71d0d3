package dnspoll_test

import (
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/resolver/dnspoll"
)

// roundRobin is the examples' service config: each client spreads its
// calls over every address the resolver publishes.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// A headless Kubernetes Service, looked up every 5 seconds, with every pod
// used through round_robin. Pods added after start-up get traffic within
// about 6 seconds.
func Example() {
	conn, err := grpc.NewClient(
		"dnspoll:///backend.default.svc.cluster.local:50051?interval=5s",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Use conn with any generated client.
}

// A builder with its own defaults, passed to one client only, asking a
// specific DNS server.
func ExampleNewBuilder() {
	b := dnspoll.NewBuilder(dnspoll.Options{
		Interval:    2 * time.Second,
		MinInterval: 500 * time.Millisecond,
	})
	conn, err := grpc.NewClient("dnspoll://10.96.0.10:53/backend.test:50051", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}
