package xds_test

import (
	"fmt"
	"log"
	"net"

	"github.com/grpclb/grpclb/xds"
)

// A control plane for one service whose backends are a fixed list. Clients
// in any language dial xds:///greeter with the bootstrap in
// GRPC_XDS_BOOTSTRAP_CONFIG (grpc-go: import _ "google.golang.org/grpc/xds").
func ExampleServer() {
	cfg, err := xds.ParseConfig([]byte(`{"services": [
		{"name": "greeter", "target": "static:///127.0.0.1:50051,127.0.0.1:50052"}
	]}`))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := xds.NewServer(cfg, xds.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)

	// The static resolver published its list while NewServer built it.
	fmt.Println("endpoints version", srv.Version())
	// Output: endpoints version 2
}

// The bootstrap of a client in zone eu-west-1a.
func ExampleBootstrap() {
	b, err := xds.Bootstrap("xds.internal:18000", "checkout-7d9f", "eu-west-1a")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output:
	// {
	//   "xds_servers": [
	//     {
	//       "server_uri": "xds.internal:18000",
	//       "channel_creds": [
	//         {
	//           "type": "insecure"
	//         }
	//       ],
	//       "server_features": [
	//         "xds_v3"
	//       ]
	//     }
	//   ],
	//   "node": {
	//     "id": "checkout-7d9f",
	//     "locality": {
	//       "zone": "eu-west-1a"
	//     }
	//   }
	// }
}
