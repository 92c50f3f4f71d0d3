package hedge_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// These tests run real gRPC clients with round_robin against real backends
// on loopback, with and without the hedger.

// counter counts the calls that reach a server, cancelled ones included.
type counter struct{ n atomic.Int64 }

func (c *counter) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	c.n.Add(1)
	return ctx, nil
}

// dial makes a round_robin client of addrs, hedged by h unless h is nil.
func dial(t *testing.T, addrs []string, h *hedge.Hedger) *grpc.ClientConn {
	t.Helper()
	var opts []grpc.DialOption
	if h != nil {
		opts = append(opts, grpc.WithUnaryInterceptor(h.UnaryClientInterceptor()))
	}
	return balancertest.Conn(t, balancertest.StaticTarget(addrs), balancertest.RoundRobin, opts...)
}

// warmUp makes calls, not hedged, until every backend has answered one, so
// that every endpoint is connected before the test's calls.
func warmUp(t *testing.T, client echopb.EchoClient, backends int) {
	t.Helper()
	balancertest.WarmUpContext(t, hedge.Disable(context.Background()), client, backends)
}

// measure makes n calls from workers goroutines and returns their
// latencies, sorted, and the number that failed. It fails the test if the
// calls take longer than a minute.
func measure(t *testing.T, client echopb.EchoClient, n, workers int) (latencies []time.Duration, failed int) {
	t.Helper()
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(time.Minute)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				_, err := client.Echo(ctx, &echopb.EchoRequest{})
				d := time.Since(start)
				cancel()
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(latencies) < n {
		t.Fatalf("only %d of %d calls within a minute", len(latencies), n)
	}
	slices.Sort(latencies)
	return latencies, failed
}

// quantile returns the nearest-rank quantile q of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// One backend of three has a latency tail (one call in ten takes 100ms);
// round_robin sends it a third of the calls, so about 3% of all calls are
// slow and the fleet's p99 is 100ms. Hedging with the defaults (at the
// adaptive p95 of the method's latencies, within a 10% budget) cuts the
// p99 to a fraction of that; so does a fixed 10ms delay on an idle
// machine.
func TestTailLatency(t *testing.T) {
	const (
		calls   = 600
		workers = 2
		tail    = 100 * time.Millisecond
	)
	var received counter
	f := balancertest.StartFleet(t, 3, grpc.InTapHandle(received.tap))
	var slowCalls atomic.Int64
	f.Backends()[2].SetLatencyFunc(func() time.Duration {
		if slowCalls.Add(1)%10 == 0 {
			return tail
		}
		return 0
	})

	type run struct {
		name string
		h    *hedge.Hedger
	}
	runs := []run{{name: "no hedging"}}
	for _, r := range []struct {
		name string
		opts []hedge.Option
	}{
		{"hedging, defaults (p95)", nil},
		{"hedging, fixed 10ms delay", []hedge.Option{hedge.Delay(10 * time.Millisecond)}},
	} {
		h, err := hedge.New(append(r.opts, hedge.Methods(method))...)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{r.name, h})
	}

	var p99 []time.Duration
	for _, r := range runs {
		client := echopb.NewEchoClient(dial(t, f.Addrs(), r.h))
		warmUp(t, client, 3)
		before := received.n.Load()
		lat, failed := measure(t, client, calls, workers)
		sent := received.n.Load() - before
		if failed > 0 {
			t.Errorf("%s: %d calls failed", r.name, failed)
		}
		p99 = append(p99, quantile(lat, 0.99))
		t.Logf("%-26s p50 %7v  p99 %9v  max %9v  calls to servers %d (%+.1f%%)", r.name+":",
			quantile(lat, 0.5).Round(time.Microsecond), quantile(lat, 0.99).Round(time.Microsecond),
			lat[len(lat)-1].Round(time.Microsecond), sent, 100*float64(sent-calls)/calls)
		if r.h == nil {
			if sent != calls {
				t.Errorf("%s: %d calls reached the servers, want %d", r.name, sent, calls)
			}
			continue
		}
		st := r.h.Stats()
		t.Logf("%-26s %+v, delay now %v", "", st, r.h.CurrentDelay(method))
		if limit := int64(hedge.DefaultBudget*calls) + hedge.DefaultBudgetBurst; st.ExtraAttempts > limit || sent-calls > limit {
			t.Errorf("%s: %d extra attempts, %d extra calls reached the servers; the budget allows %d", r.name, st.ExtraAttempts, sent-calls, limit)
		}
		if st.Calls != calls || st.HedgeWins == 0 {
			t.Errorf("%s: stats %+v, want %d calls and some won by hedges", r.name, st, calls)
		}
	}
	if p99[0] < tail {
		t.Fatalf("p99 without hedging %v, want the tail's %v at least: the test is broken", p99[0], tail)
	}
	if 2*p99[1] > p99[0] {
		t.Errorf("%s: p99 %v, want at most half the %v without hedging", runs[1].name, p99[1], p99[0])
	}
	// A fixed delay shorter than what the machine's own noise adds to many
	// calls spends the budget on them, and the calls of the tail find it
	// empty: on a busy machine a fixed 10ms cuts less of the tail, which is
	// why the delay adapts by default. Only ask for a better p99.
	if p99[2] >= p99[0] {
		t.Errorf("%s: p99 %v, want less than the %v without hedging", runs[2].name, p99[2], p99[0])
	}
}

// A hedge that wins cancels the first attempt on its server.
func TestLoserCancelled(t *testing.T) {
	f := balancertest.StartFleet(t, 2)
	h := newHedger(t, hedge.Methods(method), hedge.Delay(20*time.Millisecond))
	client := echopb.NewEchoClient(dial(t, f.Addrs(), h))
	warmUp(t, client, 2)
	slow := f.Backends()[0]
	slow.SetLatency(10 * time.Second)
	served := slow.Served()

	// Sequential calls under round_robin: a call whose first attempt goes to
	// the slow backend is hedged to the fast one.
	for i := 0; i < 10 && h.Stats().HedgeWins < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		resp, err := client.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if d := time.Since(start); resp.GetBackend() != "b2" || d > 2*time.Second {
			t.Fatalf("call %d answered by %s in %v, want b2, well before the slow backend's 10s", i, resp.GetBackend(), d)
		}
	}
	if st := h.Stats(); st.HedgeWins < 2 {
		t.Fatalf("stats %+v: want 2 calls won by hedges", st)
	}
	// The slow backend's calls end when their attempts are cancelled, not
	// after its 10s.
	deadline := time.Now().Add(3 * time.Second)
	for slow.InFlight() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow backend still has %d calls in flight 3s after their hedges won", slow.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := slow.Served() - served; n != 0 {
		t.Errorf("the slow backend answered %d calls, want 0", n)
	}
}

// With the budget spent, calls are sent once, however slow.
func TestBudgetExhaustedE2E(t *testing.T) {
	const calls = 50
	var received counter
	f := balancertest.StartFleet(t, 1, grpc.InTapHandle(received.tap))
	f.Backends()[0].SetLatency(20 * time.Millisecond) // every call outlasts the delay
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Millisecond), hedge.Budget(0.02), hedge.BudgetBurst(1))
	client := echopb.NewEchoClient(dial(t, f.Addrs(), h))
	warmUp(t, client, 1)
	before := received.n.Load()
	_, failed := measure(t, client, calls, 1)
	if failed > 0 {
		t.Errorf("%d calls failed", failed)
	}
	st := h.Stats()
	t.Logf("stats %+v, calls to the server %d", st, received.n.Load()-before)
	// One token at start, 0.02 per call: two extra attempts at most.
	// (A call whose delay fired after its answer, on a busy machine, asks
	// for nothing.)
	if st.ExtraAttempts > 2 || st.BudgetDenied < calls-10 {
		t.Errorf("stats %+v: want at most 2 extra attempts and the other calls denied", st)
	}
	if sent := received.n.Load() - before; sent > calls+2 {
		t.Errorf("%d calls reached the server, want at most %d", sent, calls+2)
	}
}

// A backend that fails every call with Unavailable: the hedge, sent at once,
// lands on the other one.
func TestUnavailableBackend(t *testing.T) {
	const calls = 20
	f := balancertest.StartFleet(t, 2)
	f.Backends()[0].SetErrorRate(1, codes.Unavailable)
	h := newHedger(t, hedge.Methods(method), hedge.Delay(time.Hour), hedge.BudgetBurst(calls))
	plain := echopb.NewEchoClient(dial(t, f.Addrs(), nil))
	hedged := echopb.NewEchoClient(dial(t, f.Addrs(), h))
	// Wait until each client has reached both backends.
	for _, c := range []echopb.EchoClient{plain, hedged} {
		var ok, unavailable bool
		deadline := time.Now().Add(15 * time.Second)
		for !ok || !unavailable {
			if time.Now().After(deadline) {
				t.Fatalf("warm-up: success %v, Unavailable %v within 15s; want both", ok, unavailable)
			}
			ctx, cancel := context.WithTimeout(hedge.Disable(context.Background()), 5*time.Second)
			_, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
			cancel()
			ok = ok || err == nil
			unavailable = unavailable || status.Code(err) == codes.Unavailable
		}
	}
	_, plainFailed := measure(t, plain, calls, 1)
	_, hedgedFailed := measure(t, hedged, calls, 1)
	st := h.Stats()
	t.Logf("without hedging %d of %d calls failed, with hedging %d; stats %+v", plainFailed, calls, hedgedFailed, st)
	if plainFailed == 0 {
		t.Errorf("no call failed without hedging: the test is broken")
	}
	if hedgedFailed != 0 || st.HedgeWins == 0 {
		t.Errorf("%d calls failed with hedging, %d won by hedges; want none failed", hedgedFailed, st.HedgeWins)
	}
}

// The caller's deadline is shorter than the delay: one attempt.
func TestDeadlineShorterThanDelayE2E(t *testing.T) {
	var received counter
	f := balancertest.StartFleet(t, 2, grpc.InTapHandle(received.tap))
	for _, b := range f.Backends() {
		b.SetLatency(time.Second)
	}
	h := newHedger(t, hedge.Methods(method), hedge.Delay(200*time.Millisecond))
	client := echopb.NewEchoClient(dial(t, f.Addrs(), h))
	for i := range 4 {
		before := received.n.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := client.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("call %d: %v, want DeadlineExceeded", i, err)
		}
		if n := received.n.Load() - before; n > 1 {
			t.Errorf("call %d reached the servers %d times, want once at most", i, n)
		}
	}
	if st := h.Stats(); st != (hedge.Stats{Calls: 4}) {
		t.Errorf("stats %+v, want 4 calls and nothing else", st)
	}
}

// headerServer answers Echo with its name in the header, the trailer and
// the reply, and the grpc-previous-rpc-attempts it got in the header.
type headerServer struct {
	echopb.UnimplementedEchoServer
	name, addr string
	delay      atomic.Int64 // ns
}

func (s *headerServer) Echo(ctx context.Context, _ *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	prev := strings.Join(md.Get("grpc-previous-rpc-attempts"), ",")
	if err := grpc.SetHeader(ctx, metadata.Pairs("backend", s.name, "prev", prev)); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("backend", s.name)); err != nil {
		return nil, err
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	// The address the call reached: the server's, from Serve.
	p, _ := peer.FromContext(ctx)
	return &echopb.EchoResponse{Backend: s.name, Addr: p.LocalAddr.String()}, nil
}

func startHeaderServer(t *testing.T, name string) *headerServer {
	t.Helper()
	srv := grpc.NewServer()
	hs := &headerServer{name: name}
	echopb.RegisterEchoServer(srv, hs)
	hs.addr = balancertest.ServeGRPC(t, srv)
	return hs
}

// Whoever wins, the caller's reply, header, trailer and peer all come from
// the winning attempt, through grpc-go's real call options.
func TestWinnerMetadata(t *testing.T) {
	slow, fast := startHeaderServer(t, "slow"), startHeaderServer(t, "fast")
	addrs := map[string]string{"slow": slow.addr, "fast": fast.addr}
	h := newHedger(t, hedge.Methods(method), hedge.Delay(20*time.Millisecond))
	client := echopb.NewEchoClient(dial(t, []string{slow.addr, fast.addr}, h))
	warmUp(t, client, 2)

	// check makes a call and checks that everything the caller sees comes
	// from one attempt; it returns whether that was a hedge.
	check := func(i int) (hedged bool) {
		t.Helper()
		var (
			header, trailer metadata.MD
			p               peer.Peer
		)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true),
			grpc.Header(&header), grpc.Trailer(&trailer), grpc.Peer(&p))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		name := resp.GetBackend()
		if fmt.Sprint(header.Get("backend")) != "["+name+"]" || fmt.Sprint(trailer.Get("backend")) != "["+name+"]" ||
			p.Addr == nil || p.Addr.String() != addrs[name] || resp.GetAddr() != addrs[name] {
			t.Errorf("call %d: reply from %s, header %v, trailer %v, peer %v; want all from %s (%s)",
				i, name, header, trailer, p.Addr, name, addrs[name])
		}
		switch prev := fmt.Sprint(header.Get("prev")); prev {
		case "[]":
			return false
		case "[1]":
			return true
		default:
			t.Errorf("call %d: grpc-previous-rpc-attempts %s, want [] or [1]", i, prev)
			return false
		}
	}

	// Both servers fast: the first attempts win (unless the machine is so
	// busy that one takes longer than the delay).
	firstWins := 0
	for i := range 4 {
		if !check(i) {
			firstWins++
		}
	}
	if firstWins == 0 {
		t.Errorf("no call won by its first attempt with both servers fast")
	}
	// One slow: calls whose first attempt goes to it are won by hedges.
	slow.delay.Store(int64(10 * time.Second))
	for i := 4; i < 10 && h.Stats().HedgeWins < 2; i++ {
		check(i)
	}
	if st := h.Stats(); st.HedgeWins < 2 {
		t.Errorf("stats %+v, want 2 calls won by hedges", st)
	}
}
