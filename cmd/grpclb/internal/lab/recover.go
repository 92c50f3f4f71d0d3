package lab

import (
	"context"
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

// recoverLoad is both scenarios' load: 500 calls/s with a 2s deadline,
// room for the calls stuck on a frozen backend, and 100ms buckets, so that
// "back to its share" is measured to a tenth of a second.
func recoverLoad(p Params) Params {
	p.Rate = max(p.Rate, 500)
	p.Timeout = max(p.Timeout, 2*time.Second)
	p.Workers = max(p.Workers, 1200)
	p.Bucket = min(p.Bucket, recoverBucket)
	return p
}

func recoverSetup(w *World, p Params) []Event {
	for _, b := range w.Fleet.Backends() {
		b.SetLatency(recoverLatency)
	}
	return nil
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
		pct := 100 * float64(r.Failed) / float64(max(1, r.RPCs))
		s := fmt.Sprintf("%d calls failed (%.2f%%); b2 ", r.Failed, pct)
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
var recoverScn = Scenario{
	Name: "recover",
	Doc: "3 backends under 500 calls/s with a 2s deadline; b2 freezes for 8s (connections open, nothing answered), then " +
		"answers again: how soon does it get its share of the calls back?",
	Duration:   24 * time.Second,
	Initial:    3,
	Strategies: recoverStrategies,
	Load:       recoverLoad,
	Check: func(p Params, d time.Duration) error {
		if need := 11*time.Second + 11*time.Second; d < need {
			return fmt.Errorf("duration %v is too short to watch b2 for 11s after an 8s freeze (needs %v)", d, need)
		}
		return nil
	},
	Setting: func(Params) string {
		return "calls take 10ms; b2 frozen from 3s to 11s; at least 500 calls/s, 2s deadline"
	},
	Notes: map[string]string{
		"dns+round_robin":             "round_robin never stops sending to the frozen backend, so it is back at once, and fails a third of the calls while frozen.",
		"dnspoll+outlier+round_robin": "The frozen backend's deadline failures eject it; it is back once its ejection time (10s here) is over.",
		"dns+p2c_ewma":                "The frozen backend is probed once a probe interval; the first fast probe after the thaw replaces its stale latency, and it takes turns again.",
	},
	Setup:   recoverSetup,
	Measure: measureBack("thaw "),
	Summary: summarizeBack("thaw"),
	Script:  freezeB2,
}

// restartScn: one backend is killed and restarted on its address, as a
// pod of a rolling deploy that keeps its IP, or a crashed process that
// its supervisor restarts.
var restartScn = Scenario{
	Name: "restart",
	Doc: "3 backends under 500 calls/s; b2 is killed (connections reset, calls in flight lost) and restarted on its " +
		"address 1.5s later: how soon does it get its share of the calls back?",
	Duration:   16 * time.Second,
	Initial:    3,
	Strategies: recoverStrategies,
	Load:       recoverLoad,
	Check: func(p Params, d time.Duration) error {
		if need := 4500*time.Millisecond + 10*time.Second; d < need {
			return fmt.Errorf("duration %v is too short to watch b2 for 10s after its restart (needs %v)", d, need)
		}
		return nil
	},
	Setting: func(Params) string {
		return "calls take 10ms; b2 killed at 3s and restarted on its address at 4.5s; at least 500 calls/s, 2s deadline"
	},
	Notes: map[string]string{
		"dns+p2c_ewma":     "A new connection starts with new statistics: the restarted backend does not inherit the failures of its previous process.",
		"grpclb.NewClient": "The calls lost in flight with the killed backend are retried on another (Echo is marked idempotent).",
	},
	Setup:   recoverSetup,
	Measure: measureBack("restart "),
	Summary: summarizeBack("restart"),
	Script: func(ctx context.Context, w *World, p Params) ([]Event, error) {
		var events []Event
		if !sleepCtx(ctx, 3*time.Second) {
			return events, nil
		}
		b := w.Fleet.Backends()[1]
		events = append(events, Event{At: w.Since(), Label: "kill " + b.Name})
		b.Kill()
		if !sleepCtx(ctx, 1500*time.Millisecond) {
			return events, nil
		}
		if err := b.Restart(); err != nil {
			return events, err
		}
		events = append(events, Event{At: w.Since(), Label: "restart " + b.Name})
		return events, nil
	},
}
