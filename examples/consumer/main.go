// Command consumer is a service that uses only grpclb's core: the
// default client, a balancer picked by service config, the server
// options. It is a module of its own, so that its go.mod and go.sum show
// what importing the core costs: grpc-go, protobuf, xxhash and
// client_golang, and no Kubernetes, etcd or Consul module
// (internal/depcheck checks it).
package main

import (
	"fmt"
	"log"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb"
	_ "github.com/grpclb/grpclb/balancer/chash"
	"github.com/grpclb/grpclb/server"
)

func main() {
	target := "dnspoll:///localhost:50051"
	if len(os.Args) > 1 {
		target = os.Args[1]
	}
	conn, err := grpclb.NewClient(target,
		grpclb.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	opts, err := server.Options(server.Config{})
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	defer srv.Stop()
	fmt.Println("client for", conn.Target(), "and a server with grpclb's connection-age options")
}
