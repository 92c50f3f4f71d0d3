package resolvercore

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the retry delay after failures: it doubles from Min up to
// Max, each delay jittered by ±20% so that many clients do not retry in
// step. The zero Backoff is not usable: set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return Jitter(b.cur, 0.2)
}

// Reset starts the delays again from Min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Jitter returns d scaled by a random factor in [1-frac, 1+frac).
func Jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 - frac + 2*frac*rand.Float64()))
}

// Sleep waits for d, or reports false when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Wake asks a resolver's goroutine, which receives from it, for a round
// now (ResolveNow). Signal never blocks, and signals that arrive while one
// is pending merge into it.
type Wake chan struct{}

// NewWake returns a Wake that holds one pending signal.
func NewWake() Wake { return make(Wake, 1) }

// Signal wakes the goroutine, or leaves it the signal already pending.
func (w Wake) Signal() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// Loop runs a resolver's goroutine until Stop.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Go starts run in a goroutine with a context that Stop cancels.
func Go(run func(ctx context.Context)) *Loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		run(ctx)
	}()
	return l
}

// Stop cancels the goroutine's context and waits for it to return; the
// resolver calls its channel no more after that.
func (l *Loop) Stop() {
	l.cancel()
	<-l.done
}
