package hedge

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The adaptive delay's window of latencies, per method.
const (
	windowSize     = 512 // latencies kept
	windowMin      = 64  // latencies needed before the quantile is used
	windowInterval = 32  // the quantile is recomputed every windowInterval latencies
)

// window keeps a method's last windowSize latencies and, every
// windowInterval of them, recomputes their quantile q. Reading the quantile
// takes no lock.
type window struct {
	q        float64
	estimate atomic.Int64 // ns; -1 until windowMin latencies were seen

	mu      sync.Mutex
	n       int // latencies added so far
	samples [windowSize]time.Duration
	sorted  [windowSize]time.Duration
}

func newWindow(q float64) *window {
	w := &window{q: q}
	w.estimate.Store(-1)
	return w
}

// add records one latency.
func (w *window) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples[w.n%windowSize] = d
	w.n++
	if w.n < windowMin || (w.n != windowMin && w.n%windowInterval != 0) {
		return
	}
	k := min(w.n, windowSize)
	s := w.sorted[:k]
	copy(s, w.samples[:k])
	slices.Sort(s)
	// Nearest rank: the smallest latency with at least q of them at or below it.
	i := int(math.Ceil(w.q*float64(k))) - 1
	w.estimate.Store(int64(s[max(0, min(i, k-1))]))
}

// quantile returns the current estimate, or ok == false before windowMin
// latencies.
func (w *window) quantile() (d time.Duration, ok bool) {
	e := w.estimate.Load()
	return time.Duration(e), e >= 0
}
