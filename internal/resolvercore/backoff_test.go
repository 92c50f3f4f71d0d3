package resolvercore

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, base := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		base *= time.Millisecond
		if d := b.Next(); d < base*8/10 || d >= base*12/10 {
			t.Errorf("retry %d: %v, want %v ±20%%", i, d, base)
		}
	}
	b.Reset()
	if d := b.Next(); d >= 120*time.Millisecond {
		t.Errorf("after Reset: %v, want Min again", d)
	}
}

// Sleep waits exactly d on the clock, and returns early when the context
// ends.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !Sleep(t.Context(), 3*time.Second) || time.Since(start) != 3*time.Second {
			t.Fatalf("slept %v, want 3s", time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		if Sleep(ctx, time.Hour) || time.Since(start) != time.Second {
			t.Fatalf("a cancelled sleep returned true or after %v", time.Since(start))
		}
	})
}

// A retry loop driven by Backoff waits 0.1+0.2+0.4+0.8+1+1 s (±20%) for six
// failures, on the virtual clock.
func TestBackoffLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
		start := time.Now()
		for range 6 {
			Sleep(t.Context(), b.Next())
		}
		if got, want := time.Since(start), 3500*time.Millisecond; got < want*8/10 || got > want*12/10 {
			t.Errorf("six retries took %v, want %v ±20%%", got, want)
		}
	})
}

func TestLoopStopWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ended bool
		l := Go(func(ctx context.Context) {
			<-ctx.Done()
			time.Sleep(time.Second) // cleanup that Stop must wait for
			ended = true
		})
		l.Stop()
		if !ended {
			t.Fatal("Stop returned before the goroutine ended")
		}
	})
}
