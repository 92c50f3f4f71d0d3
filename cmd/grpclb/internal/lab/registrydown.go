package lab

import (
	"context"
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
		if need := 3*time.Second + p.RegistryOutage + 4*time.Second; d < need {
			return fmt.Errorf("duration %v is too short for a %v outage (needs %v)", d, p.RegistryOutage, need)
		}
		return nil
	},
	Setting: func(p Params) string {
		return fmt.Sprintf("the registry is down from 3s for %v; a backend registers 2s after it is back", p.RegistryOutage)
	},
	Notes: map[string]string{
		"etcd+round_robin": "resolver/etcd keeps the last good set while etcd is away and resumes its watch when it returns.",
	},
	Script: func(ctx context.Context, w *World, p Params) ([]Event, error) {
		if w.Registry == nil {
			return nil, errors.New("registry-down needs a registry strategy, such as etcd+round_robin")
		}
		var events []Event
		if !sleepCtx(ctx, 3*time.Second) {
			return events, nil
		}
		events = append(events, Event{At: w.Since(), Label: "registry down"})
		if err := w.Registry.down(); err != nil {
			return events, err
		}
		if !sleepCtx(ctx, p.RegistryOutage) {
			return events, w.Registry.up()
		}
		if err := w.Registry.up(); err != nil {
			return events, err
		}
		events = append(events, Event{At: w.Since(), Label: "registry back"})
		if !sleepCtx(ctx, 2*time.Second) {
			return events, nil
		}
		at := w.Since()
		if err := w.Add(1); err != nil {
			return events, err
		}
		return append(events, Event{At: at, Label: "+1 backend"}), nil
	},
}
