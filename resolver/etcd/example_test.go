package etcd_test

import (
	"encoding/json"
	"fmt"
	"log"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/resolver/etcd"
)

// roundRobin is the examples' service config: each client spreads its
// calls over every address the resolver publishes.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// A client of the instances registered under service/echo in a three-node
// etcd cluster, using every one of them through round_robin. Instances
// that register or leave are followed within milliseconds.
func Example() {
	conn, err := grpc.NewClient(
		"etcd://10.0.0.5:2379,10.0.0.6:2379,10.0.0.7:2379/service/echo?dial_timeout=2s",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Use conn with any generated client.
}

// How a balancer reads the metadata an instance registered with, for
// example with register/etcd's WithMetadata(map[string]any{"zone": "eu-1a"}).
func ExampleInstanceFromEndpoint() {
	// In a balancer, ep comes from resolver.State.Endpoints.
	ep := exampleEndpoint()
	inst, ok := etcd.InstanceFromEndpoint(ep)
	if !ok {
		return // not from the etcd resolver
	}
	var md struct{ Zone string }
	if inst.Metadata != nil {
		if err := json.Unmarshal(inst.Metadata, &md); err != nil {
			log.Printf("%s: bad metadata: %v", inst.Key, err)
		}
	}
	fmt.Println(inst.Key, inst.Addr, md.Zone)
}

// exampleEndpoint stands for an endpoint the resolver published.
func exampleEndpoint() resolver.Endpoint { return resolver.Endpoint{} }

// Many ClientConns sharing the process's etcd client (with TLS and
// credentials already set up), through a builder passed to each.
func ExampleNewBuilder() {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"https://etcd-1:2379", "https://etcd-2:2379"},
		DialTimeout: 5 * time.Second,
		// TLS, Username, Password...
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	b := etcd.NewBuilder(etcd.Options{Client: cli})
	for _, svc := range []string{"service/users", "service/orders"} {
		conn, err := grpc.NewClient("etcd:///"+svc, grpc.WithResolvers(b),
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
	}
}
