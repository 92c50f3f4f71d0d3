package lab

import (
	"context"
	"math"
	"time"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// sampler reads every backend's calls in flight every few milliseconds,
// to show how load spreads at each moment (shares of calls only show it
// over the whole run).
type sampler struct {
	w    *World
	done chan struct{}
	out  chan inFlightSamples
}

type inFlightSamples struct {
	n    int
	peak map[string]int64
	sum  map[string]int64
}

const sampleEvery = 2 * time.Millisecond

func startSampler(w *World) *sampler {
	s := &sampler{w: w, done: make(chan struct{}), out: make(chan inFlightSamples, 1)}
	go s.run()
	return s
}

func (s *sampler) run() {
	res := inFlightSamples{peak: make(map[string]int64), sum: make(map[string]int64)}
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			s.out <- res
			return
		case <-t.C:
		}
		for _, b := range s.w.Fleet.Backends() {
			n := b.InFlight()
			res.peak[b.Addr] = max(res.peak[b.Addr], n)
			res.sum[b.Addr] += n
		}
		res.n++
	}
}

func (s *sampler) stop() inFlightSamples {
	close(s.done)
	return <-s.out
}

// apply writes the samples into the result.
func (f inFlightSamples) apply(r *Result) {
	for i := range r.Backends {
		b := &r.Backends[i]
		b.PeakInFlight = f.peak[b.Addr]
		if f.n > 0 {
			b.MeanInFlight = math.Round(100*float64(f.sum[b.Addr])/float64(f.n)) / 100
		}
	}
}

// KeyedCall makes one recorded call with a hash key and returns the
// address of the backend that answered.
type KeyedCall func(ctx context.Context, key string) (addr string, err error)

func keyedCaller(c echopb.EchoClient, p Params, start time.Time, rec *recorder) KeyedCall {
	return func(ctx context.Context, key string) (string, error) {
		cctx, cancel := context.WithTimeout(withKey(ctx, key), p.Timeout)
		defer cancel()
		t0 := time.Now()
		resp, err := c.Echo(cctx, &echopb.EchoRequest{})
		end := time.Now()
		rec.record(resp.GetAddr(), end.Sub(start), end.Sub(t0), err)
		return resp.GetAddr(), err
	}
}
