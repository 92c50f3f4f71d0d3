package p2c_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
)

// Balance RPCs with p2c_ewma: importing the package registers the policy,
// and the service config selects and configures it.
func Example() {
	// Two backends; target lists them, such as
	// "static:///10.0.0.1:50051,10.0.0.2:50051".
	fleet, target := balancertest.ExampleFleet(2)
	defer fleet.Close()

	conn, err := grpc.NewClient(
		target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [
			{"p2c_ewma": {"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}}
		]}`),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
	// Output: SERVING
}

// Missing fields take their defaults; mistakes are reported with the field.
func ExampleParseConfig() {
	cfg, err := p2c.ParseConfig([]byte(`{"decay": "30s"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Decay, cfg.DefaultRTT, cfg.ErrorPenalty, cfg.ProbeInterval, cfg.Tolerance)

	_, err = p2c.ParseConfig([]byte(`{"decay": "30"}`))
	fmt.Println(err)
	_, err = p2c.ParseConfig([]byte(`{"choiceCount": 2}`))
	fmt.Println(err)
	// Output:
	// 30s 10ms 1s 1s 3
	// p2c_ewma: field "decay": invalid duration "30": want a duration such as "10s" or "250ms"
	// p2c_ewma: unknown field "choiceCount" (known fields: "decay", "defaultRTT", "errorPenalty", "probeInterval", "slowStart", "tolerance")
}
