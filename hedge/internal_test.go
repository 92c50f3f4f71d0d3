package hedge

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// The bucket never lets extra attempts exceed burst + ratio × calls.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		burst int
		// script: 'c' a call (deposit), 't' a take; want the takes' results.
		script string
		want   string // 'y' granted, 'n' denied, for each 't'
	}{
		{ratio: 0.1, burst: 1, script: "tt", want: "yn"},
		{ratio: 0.5, burst: 2, script: "ctctctctctct", want: "yyynyn"},
		{ratio: 0.1, burst: 1, script: "t" + "cccccccccc" + "t" + "t", want: "yyn"},
		{ratio: 0.1, burst: 1, script: "t" + "ccccccccc" + "t", want: "yn"},
		{ratio: 1, burst: 1, script: "ctctctct", want: "yyyy"},
		{ratio: 1, burst: 3, script: "ttttccccccttttt", want: "yyynyyynn"},
	} {
		t.Run(fmt.Sprintf("%v/%d/%s", tc.ratio, tc.burst, tc.script), func(t *testing.T) {
			b := newBudget(tc.ratio, tc.burst)
			var got []byte
			for _, op := range tc.script {
				if op == 'c' {
					b.add()
					continue
				}
				if b.take() {
					got = append(got, 'y')
				} else {
					got = append(got, 'n')
				}
			}
			if string(got) != tc.want {
				t.Errorf("takes %s, want %s", got, tc.want)
			}
		})
	}
}

// Concurrent calls and takes keep the bound.
func TestBudgetConcurrent(t *testing.T) {
	const (
		workers = 8
		calls   = 2000 // per worker
		burst   = 5
		ratio   = 0.1
	)
	b := newBudget(ratio, burst)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken int
	)
	for range workers {
		wg.Go(func() {
			n := 0
			for range calls {
				b.add()
				if b.take() {
					n++
				}
			}
			mu.Lock()
			taken += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if limit := burst + int(ratio*workers*calls); taken > limit || taken < limit-1 {
		t.Errorf("%d takes, want about %d (burst + ratio × calls)", taken, limit)
	}
}

func TestWindow(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		q       float64
		samples []time.Duration
		want    time.Duration // -1: not ready
	}{
		{name: "too few", q: 0.95, samples: ramp(windowMin - 1), want: -1},
		{name: "just enough", q: 0.95, samples: ramp(windowMin), want: 61 * ms}, // ceil(0.95×64) = 61
		{name: "median", q: 0.5, samples: ramp(windowMin), want: 32 * ms},
		{name: "between recomputations", q: 0.95, samples: ramp(windowMin + windowInterval - 1), want: 61 * ms},
		{name: "recomputed", q: 0.95, samples: ramp(windowMin + windowInterval), want: 92 * ms}, // ceil(0.95×96) = 92
		{name: "full window", q: 0.95, samples: ramp(windowSize), want: 487 * ms},               // ceil(0.95×512) = 487
		// The oldest samples leave the window: 513..1024 ms remain.
		{name: "old samples forgotten", q: 0.95, samples: ramp(2 * windowSize), want: (windowSize + 487) * ms},
		{name: "tiny quantile", q: 0.0001, samples: ramp(windowMin), want: ms},
		{name: "huge quantile", q: 0.9999, samples: ramp(windowMin), want: 64 * ms},
		{name: "shuffled", q: 0.95, samples: shuffled(ramp(windowSize)), want: 487 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(tc.q)
			for _, d := range tc.samples {
				w.add(d)
			}
			got, ok := w.quantile()
			if !ok {
				got = -1
			}
			if got != tc.want {
				t.Errorf("quantile = %v, want %v", got, tc.want)
			}
		})
	}
}

// ramp returns n latencies: 1ms, 2ms, ... n ms.
func ramp(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func shuffled(ds []time.Duration) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return ds
}

// The first attempt gets the caller's options less OnFinish; every Header,
// Trailer and Peer option gets the winner's.
func TestParseCallOpts(t *testing.T) {
	var h1, h2, tr metadata.MD
	var p peer.Peer
	finish := func(error) {}
	opts := []grpc.CallOption{grpc.Header(&h1), grpc.OnFinish(finish), grpc.Trailer(&tr),
		grpc.WaitForReady(true), grpc.OnFinish(finish), grpc.Header(&h2), grpc.Peer(&p)}
	co := parseCallOpts(opts)
	want := []grpc.CallOption{grpc.Header(&h1), grpc.Trailer(&tr), grpc.WaitForReady(true), grpc.Header(&h2), grpc.Peer(&p)}
	if !slices.Equal(co.first, want) {
		t.Errorf("first attempt's options %v, want %v", co.first, want)
	}
	if len(co.onFinish) != 2 || len(co.headers) != 2 || co.headers[0] != &h1 || co.headers[1] != &h2 ||
		len(co.trailers) != 1 || co.trailers[0] != &tr || len(co.peers) != 1 || co.peers[0] != &p {
		t.Errorf("parseCallOpts = %+v", co)
	}
	// Without OnFinish the caller's slice is used as it is.
	if co := parseCallOpts(want); &co.first[0] != &want[0] {
		t.Errorf("options copied with no OnFinish to leave out")
	}
	a := &attempt{}
	extra := optsFor(co.first, a)
	wantExtra := []grpc.CallOption{grpc.Header(&a.header), grpc.Trailer(&a.trailer), grpc.WaitForReady(true), grpc.Header(&a.header), grpc.Peer(&a.peer)}
	if !slices.Equal(extra, wantExtra) {
		t.Errorf("extra attempt's options %v, want %v", extra, wantExtra)
	}
}

// A Call's bookkeeping: Extra within MaxAttempts and the budget (a call
// the budget refused is refused again, and counted once), More, and the
// latencies End teaches the adaptive delay: none from a call whose first
// attempt failed and a later one won, one otherwise.
func TestCallBookkeeping(t *testing.T) {
	h, err := New(MaxAttempts(3), Budget(0.1), BudgetBurst(2), AdaptiveDelay(0.5))
	if err != nil {
		t.Fatal(err)
	}
	c := h.Begin("/a.B/C")
	for i, want := range []bool{true, true, false} {
		if got := c.Extra(); got != want {
			t.Fatalf("Extra #%d = %v, want %v (3 attempts at most)", i+1, got, want)
		}
	}
	if c.More() {
		t.Error("More after MaxAttempts: want false")
	}
	d := h.Begin("/a.B/C") // the budget's 2 tokens are spent
	first, again := d.Extra(), d.Extra()
	if first || again || d.More() {
		t.Error("Extra or More with the budget spent: want false")
	}
	if s := h.Stats(); s.Calls != 2 || s.Hedged != 1 || s.ExtraAttempts != 2 || s.BudgetDenied != 1 {
		t.Errorf("stats %+v: want 2 calls, 1 hedged with 2 extra attempts, 1 denied", s)
	}

	samples := func() int {
		w := h.window("/a.B/C")
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.n
	}
	c.Failed(0)
	c.End(2, nil)
	if n := samples(); n != 0 {
		t.Errorf("a call whose first attempt failed taught the delay %d latencies, want none", n)
	}
	d.End(0, nil)
	if n, s := samples(), h.Stats(); n != 1 || s.HedgeWins != 1 {
		t.Errorf("after a first attempt's success: %d latencies, %d wins; want 1 and 1 (the earlier call's)", n, s.HedgeWins)
	}
	h.Begin("/a.B/C").End(0, errors.New("failed"))
	if n := samples(); n != 1 {
		t.Errorf("a failed call taught the delay: %d latencies, want 1", n)
	}
}
