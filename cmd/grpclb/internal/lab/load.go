package lab

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// callFunc makes one call and records it.
type callFunc func(ctx context.Context)

// newCaller returns the function each load worker runs per call: a call
// with the scenario's per-call context (a hash key, say) and its outcome
// recorded against the time since start.
func newCaller(c echopb.EchoClient, p Params, start time.Time, rec *recorder, decorate func(context.Context) context.Context) callFunc {
	return func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, p.Timeout)
		if decorate != nil {
			cctx = decorate(cctx)
		}
		t0 := time.Now()
		var pr peer.Peer
		resp, err := c.Echo(cctx, &echopb.EchoRequest{}, grpc.Peer(&pr))
		cancel()
		end := time.Now()
		if ctx.Err() != nil && err != nil {
			return // the run was cut short: not the strategy's failure
		}
		addr := resp.GetAddr()
		if err != nil && pr.Addr != nil {
			addr = pr.Addr.String() // where the failed call went
		}
		rec.record(addr, end.Sub(start), end.Sub(t0), err)
	}
}

// drive sends calls for d. With p.Callers > 0 it is a closed loop: that
// many callers each make one call after another. Otherwise it is an open
// loop at p.Rate per second (the schedule does not wait for answers, up to
// p.Workers in flight; beyond that it slips and the run reports fewer
// calls). Either way it is bounded in time (d plus one call timeout) and, in
// the open loop, in count (Rate × d).
func drive(ctx context.Context, call callFunc, p Params, d time.Duration, start time.Time) {
	if p.Callers > 0 {
		driveClosed(ctx, call, p.Callers, d, start)
		return
	}
	total := int(float64(p.Rate) * d.Seconds())
	interval := time.Second / time.Duration(p.Rate)
	jobs := make(chan struct{}, p.Workers)
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				call(ctx)
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

func driveClosed(ctx context.Context, call callFunc, callers int, d time.Duration, start time.Time) {
	end := start.Add(d)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				call(ctx)
			}
		}()
	}
	wg.Wait()
}
