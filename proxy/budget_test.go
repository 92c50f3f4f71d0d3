package proxy

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A Get that would pass the budget waits for a Put, or for maxWait, and
// then reads over the budget; a buffer larger than the whole budget is
// given when nothing else is out.
func TestBudgetPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var waits, overruns atomic.Int32
		b := newBudgetPool(64<<10, func(overrun bool) {
			waits.Add(1)
			if overrun {
				overruns.Add(1)
			}
		})
		first := b.Get(48 << 10)
		if b.Used() < 48<<10 {
			t.Fatalf("used %d after a 48 KiB Get", b.Used())
		}
		got := make(chan *[]byte)
		go func() { got <- b.Get(32 << 10) }()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("a Get over the budget did not wait")
		default:
		}
		time.Sleep(b.maxWait / 2)
		b.Put(first)
		second := <-got
		if waits.Load() != 1 || overruns.Load() != 0 {
			t.Errorf("waits %d, overruns %d; want 1, 0", waits.Load(), overruns.Load())
		}

		// Nothing comes back: the Get gives up waiting after maxWait.
		start := time.Now()
		third := b.Get(48 << 10)
		if took := time.Since(start); took != b.maxWait {
			t.Errorf("an unanswered wait took %v, want maxWait %v", took, b.maxWait)
		}
		if overruns.Load() != 1 {
			t.Errorf("overruns %d, want 1", overruns.Load())
		}
		b.Put(second)
		b.Put(third)
		if b.Used() != 0 {
			t.Errorf("used %d with every buffer back", b.Used())
		}

		// Larger than the budget, nothing out: no wait.
		start = time.Now()
		big := b.Get(128 << 10)
		if time.Since(start) != 0 {
			t.Error("a buffer larger than the budget waited with nothing out")
		}
		b.Put(big)
	})
}
