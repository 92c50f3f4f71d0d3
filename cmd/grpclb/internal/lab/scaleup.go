package lab

import (
	"fmt"
	"time"
)

// scaleup: two backends under steady load, then three more start and are
// published in DNS and behind the VIP, as when a Deployment scales up.
var scaleup = Scenario{
	Name: "scaleup",
	Doc: "2 backends under steady load, then 3 more are added (DNS updated, servers started): " +
		"do the added backends get traffic, and how soon?",
	Duration:  12 * time.Second,
	InDefault: true,
	Check: func(p Params, d time.Duration) error {
		if p.AddAfter >= d {
			return fmt.Errorf("add-after %v must be within the duration %v", p.AddAfter, d)
		}
		return nil
	},
	Notes: map[string]string{
		"vip+pick_first":  "The VIP balances connections, not calls: one connection, one backend.",
		"dns+round_robin": "grpc-go's dns resolver looks the name up again only when a connection breaks; none does.",
		"dns+maxage": "Connections age out every few seconds and ask for a re-resolution, but grpc-go's dns resolver " +
			"refuses to look up again within 30s of its last lookup (resolver/dns.SetMinResolutionInterval).",
	},
	Setting: func(p Params) string {
		return fmt.Sprintf("3 backends join at %v; MaxConnectionAge %v + grace %v; dnspoll interval %v",
			p.AddAfter, p.MaxAge, p.MaxAgeGrace, p.PollInterval)
	},
	Initial: 2,
	Strategies: []string{"vip+pick_first", "dns+round_robin", "dns+maxage", "dns+maxage+minres", "dnspoll+round_robin",
		"etcd+round_robin", "consul+round_robin", "kubernetes+round_robin"},
	Script: script(func(t *timeline) error {
		const added = 3
		if !t.wait(t.p.AddAfter) {
			return nil
		}
		return t.add(added, fmt.Sprintf("+%d backends", added))
	}),
}
