package lab

import (
	"fmt"
	"time"
)

// kill: backends crash in turn under load (connections reset, calls in
// flight lost) and come back a moment later on the same address.
var kill = Scenario{
	Name: "kill",
	Doc: "3 backends under 500 calls/s, each killed in turn (connections reset, calls in flight lost) " +
		"and restarted 1.5s later: how many calls fail?",
	Duration:   14 * time.Second,
	Initial:    3,
	Strategies: []string{"dns+round_robin", "dnspoll+round_robin", "grpclb.NewClient"},
	Load:       atLeast(Params{Rate: 500}),
	Check:      needs(2*time.Second+3*3500*time.Millisecond, "for 3 kills"),
	Setting:    says("calls take 10ms; from 2s, every 3.5s: one backend killed (TCP RST), restarted 1.5s later; at least 500 calls/s"),
	Notes: map[string]string{
		"dns+round_robin": "grpc-go's defaults retry only calls that never left the client: the calls in flight on a killed backend fail.",
		"grpclb.NewClient": "The Echo method is marked idempotent, so calls lost with a killed backend are retried " +
			"(UNAVAILABLE) on another.",
	},
	Summary: func(r Result) string {
		return fmt.Sprintf("%d of %d calls failed across 3 kills", r.Failed, r.RPCs)
	},
	// Calls take 10ms, so a few are in flight on each backend when it dies.
	Setup: servingIn(10 * time.Millisecond),
	Script: script(func(t *timeline) error {
		if !t.wait(2 * time.Second) {
			return nil
		}
		for _, b := range t.w.Fleet.Backends()[:3] {
			if on, err := t.killFor(b, 1500*time.Millisecond); !on || err != nil {
				return err
			}
			if !t.wait(2 * time.Second) {
				return nil
			}
		}
		return nil
	}),
}

// freeze: one backend stops answering (a SIGSTOPped process, a hung host:
// its kernel still accepts connections and acknowledges data), then
// resumes.
var freeze = Scenario{
	Name: "freeze",
	Doc: "3 backends under 500 calls/s with a 2s deadline; one freezes for 8s (connections open, nothing answered), " +
		"then resumes: how many calls fail, and how soon do new calls stop going to it?",
	Duration:   16 * time.Second,
	Initial:    3,
	Strategies: []string{"dns+round_robin", "dns+least_request", "dns+p2c_ewma", "grpclb.NewClient"},
	Load:       atLeast(faultLoad),
	Check:      needs(3*time.Second+8*time.Second+2*time.Second, "for an 8s freeze"),
	Setting:    says("b2 frozen from 3s to 11s; at least 500 calls/s, 2s deadline"),
	Notes: map[string]string{
		"dns+round_robin":   "round_robin keeps giving the frozen backend its third of the calls, each waiting out its deadline.",
		"dns+least_request": "grpc-go's least_request samples its two choices with replacement, so the frozen backend is still picked about 1/9 of the time.",
		"dns+p2c_ewma":      "p2c_ewma sees the calls stuck on the frozen backend (in flight, none finishing) and stops picking it within milliseconds.",
	},
	Summary: func(r Result) string {
		late, lag := r.lateCalls()
		return fmt.Sprintf("%d calls failed (%.2f%%); %.0f calls went to the frozen backend, the last %.0f ms after it froze",
			r.Failed, r.failedPct(), late, lag)
	},
	Script: freezeB2,
}

// freezeB2 is the script of freeze and recover: b2 freezes at 3s and
// thaws 8s later.
var freezeB2 = script(func(t *timeline) error {
	if t.wait(3 * time.Second) {
		t.freezeFor(t.w.Fleet.Backends()[1], 8*time.Second)
	}
	return nil
})
