package lab

import (
	"math"
	"slices"
	"time"
)

// Result is one (scenario, strategy) run. Its JSON form is the lab's
// machine-readable output, one object per line.
type Result struct {
	Scenario string  `json:"scenario"`
	Strategy string  `json:"strategy"`
	Seconds  float64 `json:"duration_s"`
	Rate     int     `json:"rate"`
	RPCs     int     `json:"rpcs"`
	Failed   int     `json:"failed"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
	// Backends in the order they joined.
	Backends []BackendResult `json:"backends"`
	// PickupBoundMs is the strategy's promise for the time from a backend
	// joining to its first call (null when it makes none).
	PickupBoundMs *float64 `json:"pickup_bound_ms"`
	// Errors counts failures by message.
	Errors map[string]int `json:"errors,omitempty"`
	// Extra holds a scenario's own figures (keys moved, load ratios).
	Extra map[string]float64 `json:"extra,omitempty"`
	// Figures are the share figures of the fairness, recover and restart
	// scenarios (see shares.go), written as top-level members of the JSON
	// object; nil values are written as null.
	Figures map[string]*float64 `json:"-"`
	// Baseline marks the reference run (the scenario without its fault).
	Baseline bool `json:"baseline,omitempty"`
	// Note explains anything the figures alone do not.
	Note string `json:"note,omitempty"`

	// For the chart and table, not the JSON.
	Bucket   time.Duration `json:"-"`
	Events   []Event       `json:"-"`
	Failures []int         `json:"-"`
}

// BackendResult is one backend's part in a run.
type BackendResult struct {
	Addr       string `json:"addr"`
	Name       string `json:"name"`
	AddedLater bool   `json:"added_later"`
	// AddedAtMs is when it joined, from the start of the load.
	AddedAtMs float64 `json:"added_at_ms"`
	RPCs      int     `json:"rpcs"`
	// FirstRPCMs is the time from joining to its first answered call; null
	// if it never got one.
	FirstRPCMs *float64 `json:"first_rpc_ms"`
	// SettledShare is its share of the calls made once every backend had
	// had its first call (null if that never happened in the run).
	SettledShare *float64 `json:"settled_share"`
	// PeakInFlight is the most calls it was seen handling at once
	// (sampled every few milliseconds on the server side).
	PeakInFlight int64 `json:"peak_inflight"`
	// MeanInFlight is its average number of calls in flight.
	MeanInFlight float64 `json:"mean_inflight"`
	// PerBucket counts its calls in each time bucket.
	PerBucket []int `json:"per_bucket,omitempty"`
}

// Event is something the scenario did, for the chart.
type Event struct {
	At    time.Duration
	Label string
}

// failedPct is the percentage of calls that failed.
func (r Result) failedPct() float64 { return 100 * float64(r.Failed) / float64(max(1, r.RPCs)) }

// lateCalls are the calls started on a backend clients should no longer
// have called (terminating or frozen), and how long after it began the
// last of them started, in ms.
func (r Result) lateCalls() (calls, lagMs float64) {
	return r.Extra["calls_to_terminating"], r.Extra["terminating_lag_ms"]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func ptr(f float64) *float64 { return &f }

// buildResult turns the recorder and world into a Result.
func buildResult(scn, strat string, d time.Duration, p Params, w *World, rec *recorder) Result {
	lat := rec.sortedLatencies()
	res := Result{
		Scenario: scn, Strategy: strat, Seconds: d.Seconds(), Rate: p.Rate,
		RPCs: len(lat), Failed: rec.failed,
		P50ms: ms(percentile(lat, 0.50)), P99ms: ms(percentile(lat, 0.99)), P999ms: ms(percentile(lat, 0.999)),
		Bucket: p.Bucket, Failures: slices.Clone(rec.fails),
	}
	res.RPCs += rec.failed
	if len(rec.errors) > 0 {
		res.Errors = rec.errors
	}
	nb := int((d + p.Bucket - 1) / p.Bucket)
	settledFrom := time.Duration(0)
	everyoneServed := true
	for _, b := range w.Fleet.Backends() {
		at, later := w.joined(b.Addr)
		br := BackendResult{Addr: b.Addr, Name: b.Name, AddedLater: later, AddedAtMs: ms(at), PerBucket: make([]int, nb)}
		if t := rec.backends[b.Addr]; t != nil {
			br.RPCs = t.rpcs
			br.FirstRPCMs = ptr(ms(max(0, t.first-at)))
			copy(br.PerBucket, t.buckets)
			settledFrom = max(settledFrom, t.first)
		} else {
			everyoneServed = false
		}
		res.Backends = append(res.Backends, br)
	}
	if everyoneServed && d-settledFrom >= time.Second {
		// Shares over the buckets after the last backend's first call.
		from := int(settledFrom/p.Bucket) + 1
		total := 0
		counts := make([]int, len(res.Backends))
		for i, b := range res.Backends {
			for _, n := range b.PerBucket[min(from, len(b.PerBucket)):] {
				counts[i] += n
			}
			total += counts[i]
		}
		if total > 0 {
			for i := range res.Backends {
				res.Backends[i].SettledShare = ptr(math.Round(1e4*float64(counts[i])/float64(total)) / 1e4)
			}
		}
	}
	return res
}
