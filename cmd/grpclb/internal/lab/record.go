package lab

import (
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/status"
)

// recorder collects every call's outcome: which backend, when, how long.
type recorder struct {
	bucket time.Duration

	mu        sync.Mutex
	backends  map[string]*backendTally
	latencies []time.Duration // successful calls only
	failed    int
	errors    map[string]int // failure message -> count
	fails     []int          // failures per bucket

	// terminatedAt, when set, says when a backend started terminating (or
	// froze); calls that started on it after that, answered or failed, are
	// counted.
	terminatedAt func(addr string, started time.Duration) (time.Duration, bool)
	lateCalls    int           // calls started on a backend after it began terminating
	lateLag      time.Duration // the latest such start, after its backend began terminating
}

type backendTally struct {
	rpcs    int
	first   time.Duration // since the load started; valid when rpcs > 0
	buckets []int
}

func newRecorder(bucket time.Duration) *recorder {
	return &recorder{bucket: bucket, backends: make(map[string]*backendTally), errors: make(map[string]int)}
}

// record notes one call that ended at `at` (since the load started).
func (r *recorder) record(addr string, at, latency time.Duration, err error) {
	i := int(at / r.bucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminatedAt != nil && addr != "" {
		if since, ok := r.terminatedAt(addr, at-latency); ok {
			r.lateCalls++
			r.lateLag = max(r.lateLag, at-latency-since)
		}
	}
	if err != nil {
		r.failed++
		r.errors[status.Convert(err).Message()]++
		r.fails = grow(r.fails, i)
		r.fails[i]++
		return
	}
	r.latencies = append(r.latencies, latency)
	t := r.backends[addr]
	if t == nil {
		t = &backendTally{first: at}
		r.backends[addr] = t
	}
	t.rpcs++
	t.first = min(t.first, at)
	t.buckets = grow(t.buckets, i)
	t.buckets[i]++
}

func grow(s []int, i int) []int {
	if i < len(s) {
		return s
	}
	return append(s, make([]int, i+1-len(s))...)
}

// progress is a cheap snapshot for the live line.
func (r *recorder) progress() (ok, failed, backends int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.latencies), r.failed, len(r.backends)
}

// percentile of sorted durations, p in [0, 1], nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r *recorder) sortedLatencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.latencies)
	slices.Sort(out)
	return out
}
