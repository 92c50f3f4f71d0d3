package proxy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// TestPerCallBalancing: one client connection to the proxy, three
// backends behind round_robin: each backend gets a third of 3000 calls
// (within 5%), which no connection-level balancer can do for one
// connection. On both data planes.
func TestPerCallBalancing(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f, _, client := proxiedEchoOn(t, plane, 3)
			warmUp(t, client, f)
			before := served(f)
			const calls, workers = 3000, 8
			counts, failed := callConcurrently(t, client, calls, workers, 30*time.Second)
			if failed > 0 {
				t.Fatalf("%d of %d calls failed", failed, calls)
			}
			for _, b := range f.Backends() {
				got := counts[b.Name]
				if got < 950 || got > 1050 {
					t.Errorf("backend %s got %d calls, want 1000±5%% (all: %v)", b.Name, got, counts)
				}
				if n := b.Served() - before[b.Name]; n != int64(got) {
					t.Errorf("backend %s served %d, the client counted %d", b.Name, n, got)
				}
			}
		})
	}
}

// warmUp calls until every backend of f has answered, so that every
// endpoint is connected before a measurement.
func warmUp(t testing.TB, client echopb.EchoClient, f *testbed.Fleet) {
	t.Helper()
	seen := map[string]bool{}
	wait.For(t, 15*time.Second, "every backend answers through the proxy", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if r, err := client.Echo(ctx, &echopb.EchoRequest{}); err == nil {
			seen[r.GetBackend()] = true
		}
		return len(seen) == len(f.Backends())
	})
}

func served(f *testbed.Fleet) map[string]int64 {
	m := map[string]int64{}
	for _, b := range f.Backends() {
		m[b.Name] = b.Served()
	}
	return m
}

// callConcurrently makes n Echo calls from workers goroutines, each with
// a 5s deadline, stopping early at the time limit, and counts answers per
// backend and failures.
func callConcurrently(t testing.TB, client echopb.EchoClient, n, workers int, limit time.Duration) (map[string]int, int) {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		failed int
		next   = make(chan struct{}, n)
		wg     sync.WaitGroup
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	stop := time.Now().Add(limit)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if time.Now().After(stop) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := client.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				mu.Lock()
				if err != nil {
					failed++
				} else {
					counts[r.GetBackend()]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := failed
	for _, c := range counts {
		total += c
	}
	if total != n {
		t.Fatalf("only %d of %d calls made within %v", total, n, limit)
	}
	return counts, failed
}
