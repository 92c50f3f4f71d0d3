package outlier

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outcome is what a finished call says about its endpoint.
type outcome int

const (
	ignored outcome = iota // cancelled, or never reached the backend
	succeeded
	failed
)

// callParams is what the picker needs to judge a finished call: an
// immutable snapshot of the config.
type callParams struct {
	failure             [17]bool // by codes.Code; codes beyond are never failures
	consecutiveFailures uint32   // 0: detector off
}

func newCallParams(cfg *Config) *callParams {
	p := &callParams{}
	for _, c := range cfg.FailureCodes {
		if int(c) < len(p.failure) {
			p.failure[c] = true
		}
	}
	if cfg.ConsecutiveFailures != nil {
		p.consecutiveFailures = uint32(cfg.ConsecutiveFailures.Threshold)
	}
	return p
}

// judge classifies a finished call.
func (p *callParams) judge(info balancer.DoneInfo) outcome {
	err := info.Err
	if err == nil || err == io.EOF {
		// grpc-go ends a pick whose connection turned out not to be ready
		// with an empty DoneInfo: the call never reached the backend.
		if !info.BytesSent && !info.BytesReceived {
			return ignored
		}
		return succeeded
	}
	code := status.Code(err) // Unknown for errors that are not statuses
	switch {
	case errors.Is(err, context.Canceled):
		return ignored
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	if code == codes.Canceled {
		return ignored
	}
	if int(code) < len(p.failure) && p.failure[code] {
		return failed
	}
	return succeeded
}

// endpoint is what the policy knows of one endpoint of the resolver's list.
// The counters and the ejected flag are atomics written by finished calls
// and read by pickers; the rest is guarded by the balancer's mu.
type endpoint struct {
	name string // its addresses, for logs

	successes, failures atomic.Uint32 // calls finished in the current interval
	consecutive         atomic.Uint32 // failed calls in a row
	ejected             atomic.Bool

	// Guarded by outlierBalancer.mu.
	window     window    // the calls of the last complete interval
	multiplier int       // A50's ejection time multiplier
	until      time.Time // when an ejected endpoint is due to return
	removed    bool      // no longer in the resolver's list
}

// window counts one interval's calls of an endpoint.
type window struct {
	successes, failures uint32
}

func (w window) volume() int { return int(w.successes) + int(w.failures) }

// rotate ends the current interval: its counts become the window the
// detectors look at, and counting starts again from zero. A call that
// finishes meanwhile is counted in one interval or the other.
func (e *endpoint) rotate() {
	e.window = window{successes: e.successes.Swap(0), failures: e.failures.Swap(0)}
}

// successRateOutliers returns the indexes of the windows whose success
// rate is below mean - stdev × stdevFactor/1000 of the success rates of
// the windows with at least requestVolume calls, if there are at least
// minimumHosts of those (gRFC A50).
func successRateOutliers(ws []window, cfg *SuccessRate) []int {
	var idx []int
	var rates []float64
	for i, w := range ws {
		if v := w.volume(); v > 0 && v >= cfg.RequestVolume {
			idx = append(idx, i)
			rates = append(rates, float64(w.successes)/float64(v))
		}
	}
	if len(idx) == 0 || len(idx) < cfg.MinimumHosts {
		return nil
	}
	var sum float64
	for _, r := range rates {
		sum += r
	}
	mean := sum / float64(len(rates))
	var squares float64
	for _, r := range rates {
		squares += (r - mean) * (r - mean)
	}
	stdev := math.Sqrt(squares / float64(len(rates)))
	required := mean - stdev*float64(cfg.StdevFactor)/1000
	var out []int
	for j, r := range rates {
		if r < required {
			out = append(out, idx[j])
		}
	}
	return out
}

// failurePercentageOutliers returns the indexes of the windows with at
// least requestVolume calls whose percentage of failures is above
// threshold, if there are at least minimumHosts windows with that volume
// (gRFC A50).
func failurePercentageOutliers(ws []window, cfg *FailurePercentage) []int {
	var idx []int
	for i, w := range ws {
		if v := w.volume(); v > 0 && v >= cfg.RequestVolume {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 || len(idx) < cfg.MinimumHosts {
		return nil
	}
	var out []int
	for _, i := range idx {
		w := ws[i]
		if 100*float64(w.failures)/float64(w.volume()) > float64(cfg.Threshold) {
			out = append(out, i)
		}
	}
	return out
}

// ejectionTime is how long an endpoint ejected for the multiplier-th time
// in a row stays out: base × multiplier, at most max(base, maxTime).
func ejectionTime(base, maxTime time.Duration, multiplier int) time.Duration {
	limit := max(base, maxTime)
	if multiplier <= 0 {
		return base
	}
	if multiplier > int(limit/base) { // also avoids overflowing
		return limit
	}
	return base * time.Duration(multiplier)
}

// mayEject reports whether one more of n endpoints may be ejected when
// ejected already are: at most maxPercent of them, but always one (gRFC
// A50), and never the last one unless maxPercent is 100.
func mayEject(ejected, n, maxPercent int) bool {
	switch {
	case ejected >= n:
		return false
	case maxPercent >= 100:
		return true
	case ejected+1 >= n:
		return false
	}
	return ejected == 0 || (ejected+1)*100 <= maxPercent*n
}
