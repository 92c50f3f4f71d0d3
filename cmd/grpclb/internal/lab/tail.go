package lab

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// The latency tail of the hedge scenario's slow backend.
const (
	tailShare   = 0.1
	tailLatency = 100 * time.Millisecond
	baseLatency = 2 * time.Millisecond
)

// hedgeScn: one backend has a heavy latency tail (a GC pause, a slow disk
// on one call in ten), which balancing alone cannot foresee.
var hedgeScn = Scenario{
	Name: "hedge",
	Doc: fmt.Sprintf("3 backends (%v per call); one takes %v more on %.0f%% of its calls: "+
		"what is the p99, with and without hedging, and how much extra load does hedging cost?", baseLatency, tailLatency, 100*tailShare),
	Duration:   12 * time.Second,
	Initial:    3,
	Strategies: []string{"dnspoll+round_robin", "dnspoll+round_robin+hedge", "dnspoll+p2c_ewma", "dnspoll+p2c_ewma+hedge"},
	Setting:    says(fmt.Sprintf("b2: +%v on %.0f%% of calls", tailLatency, 100*tailShare)),
	Setup: func(w *World, p Params) []Event {
		w.SetLatency(baseLatency)
		w.Fleet.Backends()[1].SetLatencyFunc(func() time.Duration {
			if rand.Float64() < tailShare {
				return tailLatency
			}
			return 0
		})
		return nil
	},
	Notes: map[string]string{
		"dnspoll+round_robin+hedge": "hedge sends a second copy of a call unanswered at the p95 of recent latencies; the first answer wins.",
		"dnspoll+p2c_ewma":          "p2c_ewma's peak EWMA already keeps most calls off a backend whose tail is this frequent; hedging is for what it cannot foresee.",
	},
	Summary: func(r Result) string {
		if _, ok := r.Extra["hedge_extra_load_pct"]; !ok {
			return fmt.Sprintf("p99 %.1f ms, no hedging", r.P99ms)
		}
		return fmt.Sprintf("p99 %.1f ms; hedges added %.1f%% calls, %.1f%% of calls won by the hedge, %.0f denied by the budget",
			r.P99ms, r.Extra["hedge_extra_load_pct"], r.Extra["hedge_wins_pct"], r.Extra["hedge_denied"])
	},
}
