package proxy_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// Streams that push 4 MiB messages at a backend that stopped reading hold
// at most limits.maxBufferedBytes in the proxy (plus the frames read over
// it after each wait's bound); the memory comes back when they end.
// Without the budget the same load holds two messages per stream.
func TestStalledStreamsStayWithinTheBudget(t *testing.T) {
	const (
		budget  = 16 << 20
		streams = 20
		msg     = 4 << 20
	)
	sink := balancertest.ServeGRPC(t, grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		<-ss.Context().Done() // never reads
		return ss.Context().Err()
	})))
	cfg := oneCluster("passthrough:///"+sink, "sink.Sink")
	cfg.Limits.MaxRequestBytes = 2 * msg
	cfg.Limits.MaxBufferedBytes = budget
	p, addr := startProxy(t, cfg, proxy.Options{})
	cc := dial(t, addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	payload := wrapperspb.Bytes(make([]byte, msg))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var streamErrs []error // streams that could not start
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cc.NewStream(ctx, bidi, "/sink.Sink/Push")
			if err != nil {
				mu.Lock()
				streamErrs = append(streamErrs, err)
				mu.Unlock()
				return
			}
			for ctx.Err() == nil && s.SendMsg(payload) == nil {
			}
		}()
	}
	// The streams fill what the budget lets in, then wait. How long the
	// filling takes depends on the machine (20 × 4 MiB under the race
	// detector on a busy CI machine: seconds), so wait for it with a
	// deadline, then keep sampling a while for the peak.
	peak := 0.0
	sample := func() float64 {
		b := metric(t, p, "grpclb_proxy_buffered_bytes")
		peak = max(peak, b)
		return b
	}
	filled := wait.Until(t, time.Minute, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return sample() >= budget/2, fmt.Sprintf("buffered bytes to reach half the %d MiB budget (peak %.1f MiB; streams that failed to start: %v)",
			budget>>20, peak/(1<<20), streamErrs)
	})
	for range 40 {
		sample()
		time.Sleep(50 * time.Millisecond) // a sampling interval, not a synchronisation
	}
	overruns := metric(t, p, `grpclb_proxy_buffer_waits_total{result="overrun"}`)
	t.Logf("half the budget filled after %v; peak buffered %.1f MiB (budget %d MiB), %v frames read over it", filled.Round(time.Millisecond), peak/(1<<20), budget>>20, overruns)
	if limit := float64(budget + 2<<20); peak > limit {
		t.Errorf("peak buffered %.1f MiB, over the %d MiB budget by more than 2 MiB", peak/(1<<20), budget>>20)
	}
	cancel()
	wg.Wait()
	// gRPC leaves the frames a stream had not read to the collector: the
	// budget gets them back once it has run.
	wait.For(t, 20*time.Second, "buffered bytes back under 1 MiB after the streams end", func() bool {
		runtime.GC()
		return metric(t, p, "grpclb_proxy_buffered_bytes") < 1<<20
	})
}
