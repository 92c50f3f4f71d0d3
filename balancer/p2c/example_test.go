package p2c_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
)

// Balance RPCs with p2c_ewma: importing the package registers the policy,
// and the service config selects and configures it.
func Example() {
	// Two backends, and a client of them: grpc.NewClient with a service
	// config that selects and configures p2c_ewma. (A real target lists the
	// backends, such as "static:///10.0.0.1:50051,10.0.0.2:50051".)
	conn, fleet := balancertest.ExampleConn(2, `{"loadBalancingConfig": [
		{"p2c_ewma": {"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}}
	]}`)
	defer fleet.Close()
	defer conn.Close()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
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
	// p2c_ewma: unknown field "choiceCount" (known fields: "decay", "defaultRTT", "errorPenalty", "probeInterval", "tolerance", "slowStart")
}
