package lab

import (
	"errors"
	"fmt"
	"time"
)

// registryDown: the registry goes away under load, comes back, and a new
// backend registers. Clients must keep calling the backends they know and
// find the new one once the registry is back.
var registryDown = Scenario{
	Name: "registry-down",
	Doc: "3 backends under steady load, found through a registry that goes away for a while, " +
		"then comes back, then a 4th backend registers: does any call fail, and is the new backend found?",
	Duration:   30 * time.Second,
	Initial:    3,
	Strategies: []string{"etcd+round_robin", "kubernetes+round_robin"},
	Check: func(p Params, d time.Duration) error {
		return tooShort(d, 3*time.Second+p.RegistryOutage+4*time.Second, fmt.Sprintf("for a %v outage", p.RegistryOutage))
	},
	Setting: func(p Params) string {
		return fmt.Sprintf("the registry is down from 3s for %v; a backend registers 2s after it is back", p.RegistryOutage)
	},
	Notes: map[string]string{
		"etcd+round_robin": "resolver/etcd keeps the last good set while etcd is away and resumes its watch when it returns.",
	},
	Script: script(func(t *timeline) error {
		reg := t.w.Registry
		if reg == nil {
			return errors.New("registry-down needs a registry strategy, such as etcd+round_robin")
		}
		if !t.wait(3 * time.Second) {
			return nil
		}
		t.mark("registry down")
		if err := reg.down(); err != nil {
			return err
		}
		if !t.wait(t.p.RegistryOutage) {
			return reg.up()
		}
		if err := reg.up(); err != nil {
			return err
		}
		t.mark("registry back")
		if !t.wait(2 * time.Second) {
			return nil
		}
		return t.add(1, "+1 backend")
	}),
}
