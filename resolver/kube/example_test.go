package kube_test

import (
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/resolver/kube"
)

// roundRobin is the examples' service config: each client spreads its
// calls over every address the resolver publishes.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// A client in a pod, balancing per RPC over the ready pods of the Service
// "echo" in namespace "prod", on the port named "grpc". New pods get RPCs
// within milliseconds; terminating ones get no new RPCs.
func Example() {
	conn, err := grpc.NewClient("kubernetes:///echo.prod:grpc",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Use conn with any generated client.
}

// A balancer reading where an endpoint runs, to prefer the caller's zone.
func ExampleInfoFromEndpoint() {
	var ep resolver.Endpoint // from resolver.State.Endpoints, in a balancer
	if info, ok := kube.InfoFromEndpoint(ep); ok {
		log.Printf("pod %s in zone %s on node %s", info.Name, info.Zone, info.NodeName)
	}
}

// Outside the cluster (a developer machine, a CI job), with a kubeconfig,
// keeping the last set when the Service is scaled to zero.
func ExampleNewBuilder() {
	b := kube.NewBuilder(kube.Options{
		Kubeconfig:      "/home/me/.kube/staging",
		KeepLastOnEmpty: true,
	})
	conn, err := grpc.NewClient("kubernetes://prod/echo:50051", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}
