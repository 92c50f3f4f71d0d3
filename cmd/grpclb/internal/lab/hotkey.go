package lab

import (
	"context"
	"fmt"
	"time"
)

// Knobs of the hotkey scenario.
const (
	hotkeyLatency  = 5 * time.Millisecond
	hotkeyKeys     = 10000
	hotkeyExponent = 1.3 // Zipf: the hottest key takes about a quarter of the calls
	hotkeyFactor   = 1.25
)

// hotkey: calls keyed by user, a few users very hot. Consistent hashing
// sends each user to one backend, so the hot users' backend takes far more
// than its share, unless loads are bounded.
var hotkey = Scenario{
	Name: "hotkey",
	Doc: fmt.Sprintf("5 backends (%v per call), calls keyed by %d users drawn from a Zipf distribution (s=%.1f): "+
		"how much more than the average does the hottest backend take?", hotkeyLatency, hotkeyKeys, hotkeyExponent),
	Duration:   6 * time.Second,
	Initial:    5,
	Strategies: []string{"dnspoll+consistent_hash", "dnspoll+consistent_hash+bounded", "dnspoll+ring_hash"},
	Notes: map[string]string{
		"dnspoll+consistent_hash":         "Bounded loads off (loadFactor 0): the hot keys' owner takes whatever they send.",
		"dnspoll+consistent_hash+bounded": fmt.Sprintf("loadFactor %.2f: a backend over ceil(%.2f × average) in flight passes calls on along the ring.", hotkeyFactor, hotkeyFactor),
		"dnspoll+ring_hash":               "grpc-go's ring_hash, key in a header: no bound.",
	},
	Load:  atLeast(Params{Rate: 2000, Workers: 256}),
	Setup: servingIn(hotkeyLatency),
	CallContext: func(p Params) func(context.Context) context.Context {
		next := zipfKeys(hotkeyExponent, hotkeyKeys, 1)
		return func(ctx context.Context) context.Context { return withKey(ctx, next()) }
	},
	Summary: func(r Result) string {
		answered := r.RPCs - r.Failed
		if answered == 0 || len(r.Backends) == 0 {
			return ""
		}
		most, peak := 0, int64(0)
		for _, b := range r.Backends {
			most = max(most, b.RPCs)
			peak = max(peak, b.PeakInFlight)
		}
		mean := float64(answered) / float64(len(r.Backends))
		return fmt.Sprintf("busiest backend took %.2f× the mean share of calls; most in flight on one backend %d (server-side samples)",
			float64(most)/mean, peak)
	},
}
