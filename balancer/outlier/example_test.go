package outlier_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/balancer/outlier"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Take a backend that fails every call out of rotation: importing the
// package registers the policy, and the service config puts it in front
// of round_robin.
func Example() {
	// Three backends that answer with their name, and a client of them:
	// grpc.NewClient with a service config that puts outlier_ejection in
	// front of round_robin.
	conn, fleet := balancertest.ExampleConn(3, `{"loadBalancingConfig": [{"outlier_ejection": {
		"baseEjectionTime": "30s",
		"consecutiveFailures": {"threshold": 3},
		"failurePercentage": {"threshold": 50, "minimumHosts": 3, "requestVolume": 20},
		"childPolicy": [{"round_robin": {}}]
	}}]}`)
	defer fleet.Close()
	defer conn.Close()
	client := echopb.NewEchoClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	balancertest.ExampleWaitAll(ctx, client, 3) // every backend connected

	// b2 breaks: every call to it fails with UNAVAILABLE. Its third failure
	// in a row ejects it; the other two take all the calls.
	fleet.Backends()[1].SetErrorRate(1, codes.Unavailable)
	failed, answered := 0, map[string]int{}
	for range 30 {
		resp, err := client.Echo(ctx, &echopb.EchoRequest{})
		if err != nil {
			failed++
			continue
		}
		answered[resp.GetBackend()]++
	}
	fmt.Println("failed calls:", failed)
	fmt.Println("calls answered by b2:", answered["b2"])
	// Output:
	// failed calls: 3
	// calls answered by b2: 0
}

// Missing fields take their defaults; mistakes are reported with the field.
func ExampleParseConfig() {
	cfg, err := outlier.ParseConfig([]byte(`{"interval": "5s", "childPolicy": [{"round_robin": {}}]}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Interval, cfg.BaseEjectionTime, cfg.MaxEjectionPercent, cfg.ConsecutiveFailures.Threshold, cfg.ChildPolicy.Name)

	_, err = outlier.ParseConfig([]byte(`{"maxEjectionPercent": 150}`))
	fmt.Println(err)
	_, err = outlier.ParseConfig([]byte(`{"failureStatusCodes": ["CANCELLED"]}`))
	fmt.Println(err)
	// Output:
	// 5s 30s 10 5 round_robin
	// outlier_ejection: field "maxEjectionPercent": must be an integer from 0 to 100, got 150
	// outlier_ejection: field "failureStatusCodes": "CANCELLED" cannot be a failure: a call cancelled by its caller says nothing about the backend
}
