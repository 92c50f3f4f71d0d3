package consul_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/resolver/consul"
)

// roundRobin is the examples' service config: each client spreads its
// calls over every address the resolver publishes.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// A client of every passing instance of "echo" tagged both grpc and v2, as
// the local agent knows them, spread by round_robin. The ACL token comes
// from CONSUL_HTTP_TOKEN.
func Example() {
	cc, err := grpc.NewClient("consul://127.0.0.1:8500/echo?tag=grpc&tag=v2",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := echopb.NewEchoClient(cc).Echo(ctx, &echopb.EchoRequest{}); err != nil {
		log.Print(err)
	}
}

// A balancer (or a picker) reads what Consul holds for each endpoint.
func ExampleInstanceFromEndpoint() {
	state := resolver.State{} // as a balancer receives it in UpdateClientConnState
	for _, ep := range state.Endpoints {
		inst, ok := consul.InstanceFromEndpoint(ep)
		if !ok {
			continue
		}
		fmt.Println(inst.Addr, inst.Node, inst.Datacenter, inst.Meta["zone"], slices.Contains(inst.Tags, "canary"))
	}
	// Output:
}

// A resolver with other defaults: a token from a secret store instead of
// the environment, and shorter blocking queries.
func ExampleNewBuilder() {
	b := consul.NewBuilder(consul.Options{Token: "token-from-a-vault", WaitTime: 30 * time.Second})
	cc, err := grpc.NewClient("consul:///echo", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
}
