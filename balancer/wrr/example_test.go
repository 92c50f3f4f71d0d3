package wrr_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/grpclb/grpclb/balancer/wrr"
	"github.com/grpclb/grpclb/endpoint"
)

// startServer starts a gRPC server with the health service on a loopback
// address, standing in for a real backend, and counts the calls it
// answers. It returns its address, the count and a function that stops it.
func startServer() (addr string, served *atomic.Int64, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served = new(atomic.Int64)
	srv := grpc.NewServer(grpc.UnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			served.Add(1)
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	return lis.Addr().String(), served, srv.Stop
}

// Balance RPCs with wrr: the resolver gives each endpoint a weight with
// endpoint.WithWeight (here grpc-go's manual resolver stands in for a real
// one), importing the package registers the policy, and the service config
// selects and configures it.
func Example() {
	small, smallServed, stop1 := startServer() // e.g. a 4-core VM
	defer stop1()
	big, bigServed, stop2 := startServer() // e.g. a 12-core VM
	defer stop2()

	r := manual.NewBuilderWithScheme("example")
	r.InitialState(resolver.State{Endpoints: []resolver.Endpoint{
		endpoint.WithWeight(resolver.Endpoint{Addresses: []resolver.Address{{Addr: small}}}, 1),
		endpoint.WithWeight(resolver.Endpoint{Addresses: []resolver.Address{{Addr: big}}}, 3),
	}})
	conn, err := grpc.NewClient(
		"example:///backends",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [
			{"wrr": {"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}}
		]}`),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	check := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
			log.Fatal(err)
		}
	}

	// Until both backends are connected, the first one READY gets every call.
	for i := 0; smallServed.Load() == 0 || bigServed.Load() == 0; i++ {
		if i == 1000 {
			log.Fatal("a backend got no call")
		}
		check()
	}
	smallServed.Store(0)
	bigServed.Store(0)
	for range 1000 {
		check()
	}
	// Both backends are in their slow-start window, since the channel
	// started: they ramp up together and keep the 1:3 ratio of their
	// weights.
	percent := func(n int64) float64 { return 5 * math.Round(float64(n)/1000*20) }
	fmt.Printf("weight 1: %.0f%% of the calls\n", percent(smallServed.Load()))
	fmt.Printf("weight 3: %.0f%% of the calls\n", percent(bigServed.Load()))
	// Output:
	// weight 1: 25% of the calls
	// weight 3: 75% of the calls
}

// Missing fields take their defaults; mistakes are reported with the field.
func ExampleParseConfig() {
	cfg, err := wrr.ParseConfig([]byte(`{"slowStart": {"window": "30s"}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.SlowStart.Window, cfg.SlowStart.Aggression, cfg.SlowStart.MinWeightPercent)

	_, err = wrr.ParseConfig([]byte(`{"slowStart": {"window": "30"}}`))
	fmt.Println(err)
	_, err = wrr.ParseConfig([]byte(`{"slowStart": {"minWeightPercent": 0}}`))
	fmt.Println(err)
	_, err = wrr.ParseConfig([]byte(`{"slowstart": {}}`))
	fmt.Println(err)
	// Output:
	// 30s 1 10
	// wrr: field "slowStart.window": invalid duration "30": want a duration such as "10s" or "250ms"
	// wrr: field "slowStart.minWeightPercent": must be in (0, 100], got 0
	// wrr: unknown field "slowstart" (known fields: "slowStart")
}
