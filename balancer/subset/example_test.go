package subset_test

import (
	"fmt"
	"log"

	"github.com/grpclb/grpclb/balancer/subset"
)

// Give each of 6 clients 2 of 4 backends: every backend gets 3 clients.
// (A service config selects the policy for a real channel; see the
// package documentation.)
func ExampleAssign() {
	backends := []string{"10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443", "10.0.0.4:443"}
	clients := make(map[string]int)
	for _, s := range subset.Assign(backends, 6, 2) {
		for _, i := range s {
			clients[backends[i]]++
		}
	}
	for _, b := range backends {
		fmt.Println(b, clients[b], "clients")
	}
	// Output:
	// 10.0.0.1:443 3 clients
	// 10.0.0.2:443 3 clients
	// 10.0.0.3:443 3 clients
	// 10.0.0.4:443 3 clients
}

// Mistakes in the config are reported with the field.
func ExampleParseConfig() {
	cfg, err := subset.ParseConfig([]byte(`{"subsetSize": 10, "clientCount": 300, "clientIndex": 3}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.SubsetSize, cfg.ClientCount, cfg.ClientIndex, cfg.ChildPolicy.Name)

	_, err = subset.ParseConfig([]byte(`{"subsetSize": 10, "clientCount": 300, "clientIndex": 300}`))
	fmt.Println(err)
	_, err = subset.ParseConfig([]byte(`{"subsetSize": 10}`))
	fmt.Println(err)
	// Output:
	// 10 300 3 round_robin
	// deterministic_subset: field "clientIndex": must be less than clientCount (300), got 300
	// deterministic_subset: field "clientCount" is required (the number of clients sharing the backends)
}
