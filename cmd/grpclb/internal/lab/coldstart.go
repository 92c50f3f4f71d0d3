package lab

import (
	"context"
	"fmt"
	"time"
)

// Cold start: how slow a new backend is at first, and for how long.
const (
	coldLatency = 100 * time.Millisecond
	warmLatency = 10 * time.Millisecond
	coldFor     = 5 * time.Second
)

// coldstart: a backend joins that is slow for its first seconds (caches,
// JIT and pools to warm up), as a new pod is.
var coldstart = Scenario{
	Name: "coldstart",
	Doc: fmt.Sprintf("3 warm backends (%v per call) under load; a 4th joins that takes %v per call at first, "+
		"warming up linearly over %v: how many calls does it get while cold, and what does that do to the tail?", warmLatency, coldLatency, coldFor),
	Duration:   14 * time.Second,
	Initial:    3,
	Strategies: []string{"dnspoll+round_robin", "dnspoll+wrr+slowstart", "dnspoll+p2c_ewma", "dnspoll+p2c_ewma+slowstart"},
	Check: func(p Params, d time.Duration) error {
		if need := 3*time.Second + coldFor + 2*time.Second; d < need {
			return fmt.Errorf("duration %v is too short (needs %v)", d, need)
		}
		return nil
	},
	Setting: func(p Params) string {
		return fmt.Sprintf("a cold backend joins at 3s; dnspoll interval %v", p.PollInterval)
	},
	Notes: map[string]string{
		"dnspoll+round_robin":        "round_robin gives the cold backend its full share at once.",
		"dnspoll+p2c_ewma+slowstart": "slow start holds the new backend's share back while its window runs.",
		"dnspoll+wrr+slowstart":      "wrr's share for the new backend ramps from 10% of a warm one's to all of it over 8s.",
	},
	Setup: func(w *World, p Params) []Event {
		for _, b := range w.Fleet.Backends() {
			b.SetLatency(warmLatency)
		}
		return nil
	},
	Summary: func(r Result) string {
		for _, b := range r.Backends {
			if !b.AddedLater {
				continue
			}
			from := int(b.AddedAtMs / (float64(r.Bucket) / 1e6))
			to := int((b.AddedAtMs + float64(coldFor/time.Millisecond)) / (float64(r.Bucket) / 1e6))
			cold := 0
			for i := from; i < to && i < len(b.PerBucket); i++ {
				cold += b.PerBucket[i]
			}
			return fmt.Sprintf("the cold backend answered %d calls in its first %v (%d in all)", cold, coldFor, b.RPCs)
		}
		return ""
	},
	Script: func(ctx context.Context, w *World, p Params) ([]Event, error) {
		if !sleepCtx(ctx, 3*time.Second) {
			return nil, nil
		}
		at := w.Since()
		added, err := w.Fleet.Add(1)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		added[0].SetLatencyFunc(func() time.Duration {
			since := time.Since(start)
			if since >= coldFor {
				return warmLatency
			}
			return coldLatency - time.Duration(float64(coldLatency-warmLatency)*float64(since)/float64(coldFor))
		})
		w.joinedNow(added, at)
		return []Event{{At: at, Label: "+1 cold backend"}}, nil
	},
}
