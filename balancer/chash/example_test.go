package chash_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/grpclb/grpclb/balancer/chash"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Send every call of one user to the same backend, for example the cache
// shard that holds the user's data. Importing chash registers the policy;
// the service config selects it; WithKey sets each call's key.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Three backends (stand-ins for cache shards) that answer with their
	// name, and a client of them: grpc.NewClient with a service config
	// that selects consistent_hash.
	conn, fleet := balancertest.ExampleConn(3, `{"loadBalancingConfig":[{"consistent_hash":{}}]}`)
	defer fleet.Close()
	defer conn.Close()
	client := echopb.NewEchoClient(conn)

	// Until every backend is connected, a key whose backend is not yet
	// connected goes to the next one on the ring. Wait until all three
	// have answered (calls without a key go to a random backend).
	balancertest.ExampleWaitAll(ctx, client, 3)

	backends := map[string]bool{}
	for range 10 {
		resp, err := client.Echo(chash.WithKey(ctx, "user-42"), &echopb.EchoRequest{})
		if err != nil {
			log.Fatal(err)
		}
		backends[resp.GetBackend()] = true
	}
	fmt.Println("backends that served user-42:", len(backends))
	// Output: backends that served user-42: 1
}

// The configuration, as in the service config, with a header as a second
// source of keys and keyless calls failing.
func ExampleParseConfig() {
	cfg, err := chash.ParseConfig([]byte(`{"loadFactor": 2, "hashHeader": "X-User-ID", "missingKey": "error"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("virtualNodes=%d loadFactor=%v hashHeader=%q missingKey=%q\n", cfg.VirtualNodes, cfg.LoadFactor, cfg.HashHeader, cfg.MissingKey)

	_, err = chash.ParseConfig([]byte(`{"loadFactor": 0.9}`))
	fmt.Println(err)
	// Output:
	// virtualNodes=0 loadFactor=2 hashHeader="x-user-id" missingKey="error"
	// consistent_hash: loadFactor: 0.9 must be greater than 1 (every endpoint would be full), or 0 to turn bounding off
}
