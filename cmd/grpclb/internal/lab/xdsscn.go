package lab

import (
	"fmt"
	"time"
)

// xdsScn: a scale-up and then a rollout, for clients that follow grpclb's
// xDS control plane beside clients that follow the registry themselves
// and grpc-go's dns resolver: what a Java, Python or Node service gets
// from `grpclb xds` through a deploy.
var xdsScn = Scenario{
	Name: "xds",
	Doc: "2 backends; at 3s 2 more join (a scale-up), from 6s the first 2 are replaced one by one (a rollout, " +
		"each terminating for a grace period): do clients that follow the xDS control plane keep up with those that watch the registry?",
	Duration: 14 * time.Second,
	Initial:  2,
	Check:    needs(6*time.Second+2*(500*time.Millisecond+rolloutGrace+500*time.Millisecond)+time.Second, "for a scale-up and a rollout of 2 backends"),
	Setting: func(p Params) string {
		return fmt.Sprintf("+2 backends at 3s; from 6s, twice: +1 backend, then 500ms later an old one terminates and stops %v after", rolloutGrace)
	},
	Strategies: []string{"dns+round_robin", "etcd+round_robin", "xds+round_robin"},
	Notes: map[string]string{
		"xds+round_robin": "The control plane watches etcd (resolver/etcd inside package xds) and pushes each change to " +
			"grpc-go's xDS client as a new ClusterLoadAssignment: one hop more than etcd+round_robin, milliseconds.",
	},
	Summary: rollout.Summary,
	Script: script(func(t *timeline) error {
		initial := t.w.Fleet.Backends()[:2]
		if !t.wait(3 * time.Second) {
			return nil
		}
		if err := t.add(2, "+2 backends"); err != nil {
			return err
		}
		if !t.wait(3 * time.Second) {
			return nil
		}
		return rollOut(t, initial)
	}),
}
