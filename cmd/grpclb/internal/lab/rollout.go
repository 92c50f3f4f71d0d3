package lab

import (
	"fmt"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
)

// rolloutGrace is how long a terminating backend keeps serving before it
// stops: the pod's preStop and termination grace, in short.
const rolloutGrace = 2 * time.Second

// rollout: a Deployment's rolling update, one pod at a time: a new backend
// starts, then an old one starts terminating (it leaves DNS, the VIP and
// the registries; its EndpointSlice entry turns terminating) and keeps
// serving for a grace period before it stops gracefully.
var rollout = Scenario{
	Name: "rollout",
	Doc: "3 backends replaced one by one under load, as a rolling update does: a new one starts, an old one " +
		"terminates (serving for a grace period, then stopping): do calls keep going to terminating backends, and does any fail?",
	Duration:   16 * time.Second,
	Initial:    3,
	Strategies: []string{"dns+round_robin", "dnspoll+round_robin", "etcd+round_robin", "kubernetes+round_robin"},
	Check:      needs(3*time.Second+3*(time.Second+rolloutGrace+time.Second)+time.Second, "for a rollout of 3 backends"),
	Setting: func(p Params) string {
		return fmt.Sprintf("from 3s, every %v: +1 backend, then 500ms later an old one terminates and stops %v after", time.Second+rolloutGrace+time.Second, rolloutGrace)
	},
	Notes: map[string]string{
		"dns+round_robin": "grpc-go's dns resolver learns nothing until a stopping backend's GOAWAY asks it to, and then " +
			"waits out its 30s floor: terminating backends get their full share, and the new ones none.",
		"kubernetes+round_robin": "resolver/kube drops a terminating endpoint as its EndpointSlice changes, so the pod " +
			"gets no new calls while its calls in flight finish.",
	},
	Summary: func(r Result) string {
		late, lag := r.lateCalls()
		if late == 0 {
			return fmt.Sprintf("no call started on a terminating backend; %d failed", r.Failed)
		}
		return fmt.Sprintf("%.0f calls started on backends already terminating (the last %.0f ms after it began); %d failed",
			late, lag, r.Failed)
	},
	Script: script(func(t *timeline) error {
		if !t.wait(3 * time.Second) {
			return nil
		}
		return rollOut(t, t.w.Fleet.Backends()[:3])
	}),
}

// rollOut replaces old one by one, as a rolling update does: a new backend
// starts, 500ms later an old one terminates, serves for rolloutGrace and
// stops; 500ms later the next.
func rollOut(t *timeline, old []*testbed.Backend) error {
	for _, b := range old {
		if err := t.add(1, "+1"); err != nil {
			return err
		}
		if !t.wait(500 * time.Millisecond) {
			return nil
		}
		t.mark("terminating " + b.Name)
		t.w.Terminate(b)
		if !t.wait(rolloutGrace) {
			return nil
		}
		t.w.Remove(b)
		if !t.wait(500 * time.Millisecond) {
			return nil
		}
	}
	return nil
}
