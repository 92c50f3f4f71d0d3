package lab

import (
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
	Check:      needs(3*time.Second+coldFor+2*time.Second, ""),
	Setting: func(p Params) string {
		return fmt.Sprintf("a cold backend joins at 3s; dnspoll interval %v", p.PollInterval)
	},
	Notes: map[string]string{
		"dnspoll+round_robin":        "round_robin gives the cold backend its full share at once.",
		"dnspoll+p2c_ewma+slowstart": "slow start holds the new backend's share back while its window runs.",
		"dnspoll+wrr+slowstart":      "wrr's share for the new backend ramps from 10% of a warm one's to all of it over 8s.",
	},
	Setup: servingIn(warmLatency),
	Summary: func(r Result) string {
		b, ok := joinedLater(r)
		if !ok {
			return ""
		}
		return fmt.Sprintf("the cold backend answered %d calls in its first %v (%d in all)", coldCalls(b, r.Bucket), coldFor, b.RPCs)
	},
	Script: script(func(t *timeline) error {
		if !t.wait(3 * time.Second) {
			return nil
		}
		at := t.w.Since()
		added, err := t.w.Fleet.Add(1)
		if err != nil {
			return err
		}
		added[0].SetLatencyFunc(warmingUp(time.Now()))
		t.w.joinedNow(added, at)
		t.markAt(at, "+1 cold backend")
		return nil
	}),
}

// warmingUp is the service time of a backend started at start: coldLatency
// at first, falling linearly to warmLatency over coldFor.
func warmingUp(start time.Time) func() time.Duration {
	return func() time.Duration {
		since := time.Since(start)
		if since >= coldFor {
			return warmLatency
		}
		return coldLatency - time.Duration(float64(coldLatency-warmLatency)*float64(since)/float64(coldFor))
	}
}

// joinedLater is the first backend that joined during the run, if any did.
func joinedLater(r Result) (BackendResult, bool) {
	for _, b := range r.Backends {
		if b.AddedLater {
			return b, true
		}
	}
	return BackendResult{}, false
}

// coldCalls counts the calls b answered in its first coldFor, from the
// run's buckets of width bucket.
func coldCalls(b BackendResult, bucket time.Duration) int {
	width := float64(bucket) / 1e6 // ms
	from := int(b.AddedAtMs / width)
	to := int((b.AddedAtMs + float64(coldFor/time.Millisecond)) / width)
	n := 0
	for i := from; i < to && i < len(b.PerBucket); i++ {
		n += b.PerBucket[i]
	}
	return n
}
