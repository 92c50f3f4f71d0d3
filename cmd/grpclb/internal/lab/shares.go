package lab

import (
	"encoding/json"
	"math"
	"time"
)

// Figures a run reports about how its calls were shared between the
// backends: evenness (the fairness scenarios) and how soon a backend that
// recovered got its share back (recover, restart). A figure that never
// happened (a backend that never got its share back) is null in the JSON.
const (
	figBackToHalfShare = "back_to_half_share_s"
	figBackToShare     = "back_to_share_s"
	figMaxMinWindow    = "max_min_share_window"
	figMaxMinRun       = "max_min_share_run"
)

// MarshalJSON writes the result with its Figures as top-level members, so
// that each JSON line carries them by name (null when unset).
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result // without this method
	b, err := json.Marshal(plain(r))
	if err != nil || len(r.Figures) == 0 {
		return b, err
	}
	f, err := json.Marshal(r.Figures)
	if err != nil {
		return nil, err
	}
	// {...} and {"k":v,...}: drop the first's '}' and the second's '{'.
	out := append(b[:len(b)-1:len(b)-1], ',')
	return append(out, f[1:]...), nil
}

// figure returns the named figure and whether it was set (not null).
func (r Result) figure(name string) (float64, bool) {
	v, ok := r.Figures[name]
	if !ok || v == nil {
		return 0, false
	}
	return *v, true
}

// setFigure records a figure; nil records it as null.
func (r *Result) setFigure(name string, v *float64) {
	if r.Figures == nil {
		r.Figures = make(map[string]*float64)
	}
	r.Figures[name] = v
}

// windowCounts returns, for each 1s window starting every bucket from
// `from` while it ends by `to`, the calls each backend answered in it.
func windowCounts(r Result, from, to time.Duration) (starts []time.Duration, counts [][]int) {
	if r.Bucket <= 0 {
		return nil, nil
	}
	per := max(1, int(time.Second/r.Bucket)) // buckets in a window
	first := int((from + r.Bucket - 1) / r.Bucket)
	for i := first; time.Duration(i+per)*r.Bucket <= to; i++ {
		row := make([]int, len(r.Backends))
		for k, b := range r.Backends {
			for j := i; j < i+per && j < len(b.PerBucket); j++ {
				row[k] += b.PerBucket[j]
			}
		}
		starts = append(starts, time.Duration(i)*r.Bucket)
		counts = append(counts, row)
	}
	return starts, counts
}

// maxMin is the largest count over the smallest (+Inf if one is 0).
func maxMin(counts []int) float64 {
	lo, hi := math.MaxInt, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	if lo <= 0 {
		return math.Inf(1)
	}
	return float64(hi) / float64(lo)
}

// evenness returns the worst max/min of calls per backend over the 1s
// windows from `from` to `to` (windows do not overlap), and over the whole
// span.
func evenness(r Result, from, to time.Duration) (window, run float64) {
	starts, counts := windowCounts(r, from, to)
	total := make([]int, len(r.Backends))
	next := time.Duration(-1)
	for i, row := range counts {
		if starts[i] < next {
			continue // overlapping window
		}
		next = starts[i] + time.Second
		window = max(window, maxMin(row))
		for k, c := range row {
			total[k] += c
		}
	}
	if next < 0 {
		return math.Inf(1), math.Inf(1)
	}
	return window, maxMin(total)
}

// backToShare returns the seconds from since until the backend at index k
// first answered, over a 1s window, at least lo and at most hi times its
// fair share (1/len(Backends) of the answered calls); nil if it never did.
func backToShare(r Result, k int, since time.Duration, lo, hi float64) *float64 {
	starts, counts := windowCounts(r, since, time.Duration(r.Seconds*float64(time.Second)))
	for i, row := range counts {
		all := 0
		for _, c := range row {
			all += c
		}
		if all == 0 {
			continue
		}
		share := float64(row[k]) * float64(len(row)) / float64(all)
		if share >= lo && share <= hi {
			return ptr(math.Round(float64(starts[i]-since)/1e7) / 100)
		}
	}
	return nil
}

// nullable turns +Inf (a backend with no call in a window) into null.
func nullable(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return ptr(math.Round(v*1000) / 1000)
}
