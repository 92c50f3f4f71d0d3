package lab

import (
	"context"
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
	Load: func(p Params) Params {
		p.Rate = max(p.Rate, 500)
		return p
	},
	Check: func(p Params, d time.Duration) error {
		if need := 2*time.Second + 3*3500*time.Millisecond; d < need {
			return fmt.Errorf("duration %v is too short for 3 kills (needs %v)", d, need)
		}
		return nil
	},
	Setting: func(Params) string {
		return "calls take 10ms; from 2s, every 3.5s: one backend killed (TCP RST), restarted 1.5s later; at least 500 calls/s"
	},
	Notes: map[string]string{
		"dns+round_robin": "grpc-go's defaults retry only calls that never left the client: the calls in flight on a killed backend fail.",
		"grpclb.NewClient": "The Echo method is marked idempotent, so calls lost with a killed backend are retried " +
			"(UNAVAILABLE) on another.",
	},
	Summary: func(r Result) string {
		return fmt.Sprintf("%d of %d calls failed across 3 kills", r.Failed, r.RPCs)
	},
	// Calls take 10ms, so a few are in flight on each backend when it dies.
	Setup: func(w *World, p Params) []Event {
		for _, b := range w.Fleet.Backends() {
			b.SetLatency(10 * time.Millisecond)
		}
		return nil
	},
	Script: func(ctx context.Context, w *World, p Params) ([]Event, error) {
		var events []Event
		if !sleepCtx(ctx, 2*time.Second) {
			return events, nil
		}
		for _, b := range w.Fleet.Backends()[:3] {
			events = append(events, Event{At: w.Since(), Label: "kill " + b.Name})
			b.Kill()
			if !sleepCtx(ctx, 1500*time.Millisecond) {
				return events, nil
			}
			if err := b.Restart(); err != nil {
				return events, err
			}
			events = append(events, Event{At: w.Since(), Label: "restart " + b.Name})
			if !sleepCtx(ctx, 2*time.Second) {
				return events, nil
			}
		}
		return events, nil
	},
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
	Load: func(p Params) Params {
		p.Rate = max(p.Rate, 500)
		p.Timeout = max(p.Timeout, 2*time.Second)
		p.Workers = max(p.Workers, 1200) // room for 2s of calls stuck on the frozen backend
		return p
	},
	Check: func(p Params, d time.Duration) error {
		if need := 3*time.Second + 8*time.Second + 2*time.Second; d < need {
			return fmt.Errorf("duration %v is too short for an 8s freeze (needs %v)", d, need)
		}
		return nil
	},
	Setting: func(Params) string {
		return "b2 frozen from 3s to 11s; at least 500 calls/s, 2s deadline"
	},
	Notes: map[string]string{
		"dns+round_robin":   "round_robin keeps giving the frozen backend its third of the calls, each waiting out its deadline.",
		"dns+least_request": "grpc-go's least_request samples its two choices with replacement, so the frozen backend is still picked about 1/9 of the time.",
		"dns+p2c_ewma":      "p2c_ewma sees the calls stuck on the frozen backend (in flight, none finishing) and stops picking it within milliseconds.",
	},
	Summary: func(r Result) string {
		late, lag := r.Extra["calls_to_terminating"], r.Extra["terminating_lag_ms"]
		pct := 100 * float64(r.Failed) / float64(max(1, r.RPCs))
		return fmt.Sprintf("%d calls failed (%.2f%%); %.0f calls went to the frozen backend, the last %.0f ms after it froze",
			r.Failed, pct, late, lag)
	},
	Script: freezeB2,
}

// freezeB2 is the script of freeze and recover: b2 freezes at 3s and
// thaws 8s later.
func freezeB2(ctx context.Context, w *World, p Params) ([]Event, error) {
	var events []Event
	if !sleepCtx(ctx, 3*time.Second) {
		return events, nil
	}
	b := w.Fleet.Backends()[1]
	events = append(events, Event{At: w.Since(), Label: "freeze " + b.Name})
	w.Freeze(b)
	ok := sleepCtx(ctx, 8*time.Second)
	w.Thaw(b)
	if ok {
		events = append(events, Event{At: w.Since(), Label: "thaw " + b.Name})
	}
	return events, nil
}
