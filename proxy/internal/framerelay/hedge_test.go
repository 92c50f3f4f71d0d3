package framerelay_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// startHedging starts a relay whose one route, the Echo service, hedges
// with a Hedger of opts over round_robin on addrs.
func startHedging(t *testing.T, addrs []string, opts ...hedge.Option) (echopb.EchoClient, *hedge.Hedger) {
	t.Helper()
	h, err := hedge.New(append(opts, hedge.MethodFunc(func(string) bool { return true }))...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"echo": {Target: balancertest.StaticTarget(addrs)}},
		Routes:   []framerelay.Route{{Prefix: echoService, Cluster: "echo", Hedge: h}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close))), h
}

// TestHedgesRescueSlowCalls: with one of two backends holding every call
// for a minute, every call of a hedging route is answered by the other,
// its 300 KiB request sent whole to both; the attempts that lost are
// reset on the slow backend, and the Hedger counts the hedges and wins.
// 80 such calls on one connection carry 24 MiB, more than the
// connection's window: a call that kept its request's window would stall
// the connection.
func TestHedgesRescueSlowCalls(t *testing.T) {
	f := startFleet(t, 2)
	slow, good := f.Backends()[0], f.Backends()[1]
	c, h := startHedging(t, f.Addrs(), hedge.Delay(5*time.Millisecond), hedge.Budget(1), hedge.BudgetBurst(100))
	warmUp(t, c, f)
	slow.SetLatency(time.Minute)
	payload := bytes.Repeat([]byte{'h'}, 300<<10)
	const calls = 80
	for i := range calls {
		resp, err := c.Echo(testbed.Context(t, 20*time.Second), &echopb.EchoRequest{Payload: payload})
		if err != nil || resp.GetBackend() != good.Name || !bytes.Equal(resp.GetPayload(), payload) {
			t.Fatalf("call %d: %v from %q (%d bytes), want the request echoed by %s", i, err, resp.GetBackend(), len(resp.GetPayload()), good.Name)
		}
	}
	wait.For(t, 10*time.Second, "the attempts that lost to end on the slow backend", func() bool { return slow.InFlight() == 0 })
	s := h.Stats()
	if s.Calls < calls || s.Hedged < calls/4 || s.HedgeWins < calls/4 || s.HedgeWins > s.Hedged {
		t.Errorf("stats %+v: want %d calls, about half of them hedged and won by the hedge", s, calls)
	}
}

// TestHedgesOnNonFatalFailure: an attempt that fails with a non-fatal
// code (UNAVAILABLE) is followed at once, however long the delay; a
// fatal code (INTERNAL) ends the call without another attempt.
func TestHedgesOnNonFatalFailure(t *testing.T) {
	f := startFleet(t, 2)
	bad, good := f.Backends()[0], f.Backends()[1]
	c, h := startHedging(t, f.Addrs(), hedge.Delay(time.Hour), hedge.MaxAttempts(3), hedge.Budget(1), hedge.BudgetBurst(100))
	warmUp(t, c, f)
	bad.SetErrorRate(1, codes.Unavailable)
	for i := range 10 {
		resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		if err != nil || resp.GetBackend() != good.Name {
			t.Fatalf("call %d: %v from %q, want it answered by %s", i, err, resp.GetBackend(), good.Name)
		}
	}
	if s := h.Stats(); s.Hedged == 0 {
		t.Errorf("stats %+v: want the calls that met the failing backend hedged", s)
	}
	bad.SetErrorRate(1, codes.Internal)
	served := good.Served()
	failed := 0
	for range 10 {
		_, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		switch status.Code(err) {
		case codes.OK:
		case codes.Internal:
			failed++
		default:
			t.Fatalf("a call: %v, want OK or the backend's INTERNAL", err)
		}
	}
	if failed == 0 || good.Served()-served != int64(10-failed) {
		t.Errorf("%d of 10 calls failed with INTERNAL, %d answered by %s: want round_robin's half failed, never hedged", failed, good.Served()-served, good.Name)
	}
}

// TestHedgesWithinBudget: with every backend slow, a Hedger whose budget
// holds 3 extra attempts (and earns a thousandth per call) sends 3, and the other calls
// wait for their first attempt.
func TestHedgesWithinBudget(t *testing.T) {
	f := startFleet(t, 2)
	c, h := startHedging(t, f.Addrs(), hedge.Delay(time.Millisecond), hedge.Budget(0.001), hedge.BudgetBurst(3))
	warmUp(t, c, f)
	for _, b := range f.Backends() {
		b.SetLatency(50 * time.Millisecond)
	}
	for i := range 8 {
		if _, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if s := h.Stats(); s.ExtraAttempts != 3 || s.BudgetDenied == 0 {
		t.Errorf("stats %+v: want 3 extra attempts, then the budget denying them", s)
	}
}

// TestHedgedCallCancelled: a client that gives up on a hedged call while
// its attempts race ends them all on their backends.
func TestHedgedCallCancelled(t *testing.T) {
	f := startFleet(t, 2)
	c, h := startHedging(t, f.Addrs(), hedge.Delay(time.Millisecond), hedge.Budget(1), hedge.BudgetBurst(100))
	warmUp(t, c, f)
	for _, b := range f.Backends() {
		b.SetLatency(time.Minute)
	}
	before := h.Stats()
	ctx, cancel := context.WithCancel(testbed.Context(t, 60*time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := c.Echo(ctx, &echopb.EchoRequest{})
		done <- err
	}()
	inFlight := func() int64 { return f.Backends()[0].InFlight() + f.Backends()[1].InFlight() }
	wait.For(t, 10*time.Second, "both attempts to reach a backend", func() bool { return inFlight() == 2 })
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled call: %v, want CANCELED", err)
	}
	wait.For(t, 10*time.Second, "the attempts to end on the backends", func() bool { return inFlight() == 0 })
	if s := h.Stats(); s.ExtraAttempts-before.ExtraAttempts != 1 {
		t.Errorf("stats %+v, %+v before the call: want one extra attempt", s, before)
	}
}

// TestHedgesOutliveABackend: the attempts racing on a backend that dies
// (its connections reset before it answered) fail as UNAVAILABLE, which
// sends the next attempts at once, and every call is answered.
func TestHedgesOutliveABackend(t *testing.T) {
	f := startFleet(t, 2)
	c, _ := startHedging(t, f.Addrs(), hedge.Delay(time.Hour), hedge.MaxAttempts(3), hedge.Budget(1), hedge.BudgetBurst(100))
	warmUp(t, c, f)
	outliveABackend(t, c, f.Backends()[0], f.Backends()[1])
}
