package lab

import (
	"fmt"
	"time"
)

// vip: five backends behind one L4 address. A client's calls go where its
// connections go.
var vip = Scenario{
	Name: "vip",
	Doc: "5 backends behind one VIP (an L4 balancer that picks a backend per connection, like a ClusterIP): " +
		"how many backends does one client reach?",
	Duration:   5 * time.Second,
	Initial:    5,
	Strategies: []string{"vip+pick_first", "vip+pool", "vip+ccpool"},
	Notes: map[string]string{
		"vip+pick_first": "The VIP balances connections, not calls: one connection, one backend.",
		"vip+pool":       "More connections: the VIP spreads them over its backends, the policy spreads calls over them.",
		"vip+ccpool":     "The same without a service config, for code that cannot set one.",
	},
	Setting: says(fmt.Sprintf("the VIP takes backends in turn per connection; pool strategies open %d connections", vipConnections)),
}
