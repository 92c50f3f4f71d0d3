package lab

import (
	"fmt"
	"strings"
	"time"
)

// The recover and restart scenarios: a backend that comes back must get
// its share back. A policy that fails no call but leaves a pod idle after
// every deploy has lost a third of the fleet without anyone noticing.

// recoverStrategies are compared in recover and restart.
var recoverStrategies = []string{"dns+round_robin", "dns+least_request", "dns+p2c_ewma", "dnspoll+outlier+round_robin", "grpclb.NewClient"}

const (
	recoverLatency = 10 * time.Millisecond
	recoverBucket  = 100 * time.Millisecond
)

// recoverLoad is both scenarios' load: faultLoad, and 100ms buckets, so
// that "back to its share" is measured to a tenth of a second.
func recoverLoad(p Params) Params {
	p = p.raisedTo(faultLoad)
	p.Bucket = min(p.Bucket, recoverBucket)
	return p
}

// backScenario completes s, the recover or restart scenario: b2 is frozen or
// killed under recoverLoad until what (thaw, restart) happens to it, and
// the figures say how soon it gets its share of the calls back.
func backScenario(what string, s Scenario) Scenario {
	s.Initial = 3
	s.Strategies = recoverStrategies
	s.Load = recoverLoad
	s.Setup = servingIn(recoverLatency)
	s.Measure = measureBack(what + " ")
	s.Summary = summarizeBack(what)
	return s
}

// measureBack sets back_to_half_share_s (at least half its fair share over
// a 1s window) and back_to_share_s (within ±20% of it) of b2, from the
// event whose label starts with label.
func measureBack(label string) func(r *Result) {
	return func(r *Result) {
		for _, e := range r.Events {
			if strings.HasPrefix(e.Label, label) && len(r.Backends) > 1 {
				r.setFigure(figBackToHalfShare, backToShare(*r, 1, e.At, 0.5, 1e9))
				r.setFigure(figBackToShare, backToShare(*r, 1, e.At, 0.8, 1.2))
				return
			}
		}
		r.setFigure(figBackToHalfShare, nil)
		r.setFigure(figBackToShare, nil)
	}
}

func summarizeBack(what string) func(r Result) string {
	return func(r Result) string {
		s := fmt.Sprintf("%d calls failed (%.2f%%); b2 ", r.Failed, r.failedPct())
		half, okHalf := r.figure(figBackToHalfShare)
		full, okFull := r.figure(figBackToShare)
		switch {
		case !okHalf:
			return s + "never got half its share back after the " + what
		case !okFull:
			return s + fmt.Sprintf("back to half its share %.1fs after the %s, never to all of it", half, what)
		}
		return s + fmt.Sprintf("back to half its share %.1fs and to its share %.1fs after the %s", half, full, what)
	}
}

// recoverScn: one backend freezes for 8s, then answers again.
var recoverScn = backScenario("thaw", Scenario{
	Name: "recover",
	Doc: "3 backends under 500 calls/s with a 2s deadline; b2 freezes for 8s (connections open, nothing answered), then " +
		"answers again: how soon does it get its share of the calls back?",
	Duration: 24 * time.Second,
	Check:    needs(11*time.Second+11*time.Second, "to watch b2 for 11s after an 8s freeze"),
	Setting:  says("calls take 10ms; b2 frozen from 3s to 11s; at least 500 calls/s, 2s deadline"),
	Notes: map[string]string{
		"dns+round_robin":             "round_robin never stops sending to the frozen backend, so it is back at once, and fails a third of the calls while frozen.",
		"dnspoll+outlier+round_robin": "The frozen backend's deadline failures eject it; it is back once its ejection time (10s here) is over.",
		"dns+p2c_ewma":                "The frozen backend is probed once a probe interval; the first fast probe after the thaw replaces its stale latency, and it takes turns again.",
	},
	Script: freezeB2,
})

// restartScn: one backend is killed and restarted on its address, as a
// pod of a rolling deploy that keeps its IP, or a crashed process that
// its supervisor restarts.
var restartScn = backScenario("restart", Scenario{
	Name: "restart",
	Doc: "3 backends under 500 calls/s; b2 is killed (connections reset, calls in flight lost) and restarted on its " +
		"address 1.5s later: how soon does it get its share of the calls back?",
	Duration: 16 * time.Second,
	Check:    needs(4500*time.Millisecond+10*time.Second, "to watch b2 for 10s after its restart"),
	Setting:  says("calls take 10ms; b2 killed at 3s and restarted on its address at 4.5s; at least 500 calls/s, 2s deadline"),
	Notes: map[string]string{
		"dns+p2c_ewma":     "A new connection starts with new statistics: the restarted backend does not inherit the failures of its previous process.",
		"grpclb.NewClient": "The calls lost in flight with the killed backend are retried on another (Echo is marked idempotent).",
	},
	Script: script(func(t *timeline) error {
		if !t.wait(3 * time.Second) {
			return nil
		}
		_, err := t.killFor(t.w.Fleet.Backends()[1], 1500*time.Millisecond)
		return err
	}),
})
