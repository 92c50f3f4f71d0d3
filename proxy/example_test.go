package proxy_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy"
)

// A client with one connection to the proxy reaches every backend: the
// proxy balances each call over the cluster.
func Example() {
	backends, err := testbed.StartFleet(3, testbed.FleetConfig{}) // three echo servers
	if err != nil {
		log.Fatal(err)
	}
	defer backends.Close()

	cfg, err := proxy.ParseConfig([]byte(`
routes:
  - service: grpclb.testbed.v1.Echo
    cluster: echo
clusters:
  echo:
    target: static:///` + strings.Join(backends.Addrs(), ",") + `
    policy: '{"loadBalancingConfig":[{"round_robin":{}}]}'
`))
	if err != nil {
		log.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go p.Serve(lis)
	defer p.Stop() // or p.Drain(ctx) on SIGTERM

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := echopb.NewEchoClient(conn)
	seen := map[string]bool{}
	for i := 0; i < 1000 && len(seen) < 3; i++ { // until round_robin has all three connected
		resp, err := client.Echo(context.Background(), &echopb.EchoRequest{}, grpc.WaitForReady(true))
		if err != nil {
			log.Fatal(err)
		}
		seen[resp.GetBackend()] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Println(names)
	// Output: [b1 b2 b3]
}
