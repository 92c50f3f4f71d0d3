package lab

import (
	"context"
	"sync"
	"time"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// drive sends calls at p.Rate per second for d (open loop: the schedule does
// not wait for answers, up to p.Workers in flight; beyond that the schedule
// slips and the run reports fewer calls), recording each outcome. It is
// bounded in count (Rate x d) and in time (d plus one call timeout).
func drive(ctx context.Context, c echopb.EchoClient, p Params, d time.Duration, start time.Time, rec *recorder) {
	total := int(float64(p.Rate) * d.Seconds())
	interval := time.Second / time.Duration(p.Rate)
	jobs := make(chan struct{}, p.Workers)
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &echopb.EchoRequest{}
			for range jobs {
				cctx, cancel := context.WithTimeout(ctx, p.Timeout)
				t0 := time.Now()
				resp, err := c.Echo(cctx, req)
				cancel()
				end := time.Now()
				if ctx.Err() != nil && err != nil {
					continue // the run was cut short: not the strategy's failure
				}
				rec.record(resp.GetAddr(), end.Sub(start), end.Sub(t0), err)
			}
		}()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
schedule:
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		if time.Since(start) >= d {
			break
		}
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
}
