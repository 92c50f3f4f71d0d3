package grpclb_test

import (
	"fmt"
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb"
)

// A client of every address dnspoll finds for echo.prod, balanced per call
// by p2c_ewma, with Get and List retried on UNAVAILABLE.
func ExampleNewClient() {
	conn, err := grpclb.NewClient("dnspoll:///echo.prod.svc.cluster.local:50051",
		grpclb.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())),
		grpclb.WithIdempotent("/echo.v1.Echo/Get", "/echo.v1.Echo/List"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}

// The service config NewClient uses, for clients that keep their own
// grpc.NewClient call.
func ExampleServiceConfig() {
	sc, err := grpclb.ServiceConfig(grpclb.WithLoadBalancing(`[{"round_robin":{}}]`), grpclb.WithIdempotent("echo.v1.Echo"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sc)
	// Output:
	// {"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""},"methodConfig":[{"name":[{"service":"echo.v1.Echo"}],"retryPolicy":{"maxAttempts":4,"initialBackoff":"0.02s","maxBackoff":"0.5s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}
}
