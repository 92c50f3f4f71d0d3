package proxy_test

import (
	"context"
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
	payload := wrapperspb.Bytes(make([]byte, msg))
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cc.NewStream(ctx, bidi, "/sink.Sink/Push")
			if err != nil {
				return
			}
			for ctx.Err() == nil && s.SendMsg(payload) == nil {
			}
		}()
	}
	// The streams fill what the budget lets in, then wait.
	peak := 0.0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		peak = max(peak, metric(t, p, "grpclb_proxy_buffered_bytes"))
		time.Sleep(50 * time.Millisecond) // a sampling interval, not a synchronisation
	}
	overruns := metric(t, p, `grpclb_proxy_buffer_waits_total{result="overrun"}`)
	t.Logf("peak buffered %.1f MiB (budget %d MiB), %v frames read over it", peak/(1<<20), budget>>20, overruns)
	if peak < budget/2 {
		t.Errorf("peak buffered %.1f MiB: the load never reached the budget, so the test shows nothing", peak/(1<<20))
	}
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
