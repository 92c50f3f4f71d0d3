package balancertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// Workers runs work(worker, 0), work(worker, 1), ... in each of n
// goroutines (worker 0 to n-1) until the returned stop is called; stop
// waits for the workers' last calls to return. It drives picks or calls
// from many goroutines while a test changes things under them.
func Workers(n int, work func(worker, i int)) (stop func()) {
	var (
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	for w := range n {
		wg.Go(func() {
			for i := 0; !stopped.Load(); i++ {
				work(w, i)
			}
		})
	}
	return func() {
		stopped.Store(true)
		wg.Wait()
	}
}

// Callers keep making calls, each caller one after another, until the
// test ends, and count those that succeed and those that fail.
type Callers struct {
	ok, failed atomic.Int64
	stop       atomic.Bool
	wg         sync.WaitGroup
}

// StartCallers starts n callers of client, each call within timeout; they
// stop when the test ends (before the test's earlier cleanups, such as
// the fleet's).
func StartCallers(tb testing.TB, client echopb.EchoClient, n int, timeout time.Duration) *Callers {
	c := &Callers{}
	for range n {
		c.wg.Go(func() {
			for !c.stop.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := client.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				if err == nil {
					c.ok.Add(1)
				} else {
					c.failed.Add(1)
				}
			}
		})
	}
	tb.Cleanup(c.Stop)
	return c
}

// Stop stops the callers and waits for their last calls.
func (c *Callers) Stop() {
	c.stop.Store(true)
	c.wg.Wait()
}

// OK is how many calls have succeeded so far.
func (c *Callers) OK() int64 { return c.ok.Load() }

// Failed is how many calls have failed so far.
func (c *Callers) Failed() int64 { return c.failed.Load() }

// Progress waits until n more calls have succeeded; after 15s it fails the
// test, saying what was going on.
func (c *Callers) Progress(tb testing.TB, n int64, what string) {
	tb.Helper()
	target := c.OK() + n
	wait.Until(tb, 15*time.Second, func() (bool, string) {
		return c.OK() >= target, fmt.Sprintf("%s: no progress (%d calls ok, %d failed)", what, c.OK(), c.Failed())
	})
}

// KillAndRestart kills b (connections reset, calls in flight lost), waits
// until n more calls have succeeded on the other backends (Progress), and
// restarts b.
func (c *Callers) KillAndRestart(tb testing.TB, b *testbed.Backend, n int64) {
	tb.Helper()
	b.Kill()
	c.Progress(tb, n, "after killing "+b.Name)
	if err := b.Restart(); err != nil {
		tb.Fatal(err)
	}
}
