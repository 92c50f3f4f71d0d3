package hedge_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/balancertest"
)

// Hedge an idempotent method: a call still unanswered at the method's p95
// latency is sent again, to the next backend round_robin picks, within a
// budget of 10% extra calls.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Check is a read: safe to send twice. Its calls are hedged at the p95
	// of its recent latencies (10ms until it has enough of them).
	h, err := hedge.New(hedge.Methods("/grpc.health.v1.Health/Check"))
	if err != nil {
		log.Fatal(err)
	}
	// Two backends, and a client of them through the Hedger's interceptor:
	// grpc.NewClient(target, ..., grpc.WithUnaryInterceptor(...)).
	conn, fleet := balancertest.ExampleConn(2, `{"loadBalancingConfig": [{"round_robin": {}}]}`,
		grpc.WithUnaryInterceptor(h.UnaryClientInterceptor()))
	defer fleet.Close()
	defer conn.Close()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
	fmt.Println("calls:", h.Stats().Calls)
	// Output:
	// SERVING
	// calls: 1
}

// Per call, the context opts a call in or out and sets its delay.
func ExampleIdempotent() {
	ctx := context.Background()

	// This call is safe to send twice, though its method is not marked.
	ctx1 := hedge.Idempotent(ctx)
	// This one must be sent once, though its method is marked.
	ctx2 := hedge.Disable(ctx)
	// This one is hedged after 2ms, whatever the Hedger's delay.
	ctx3 := hedge.WithDelay(hedge.Idempotent(ctx), 2*time.Millisecond)

	_, _, _ = ctx1, ctx2, ctx3 // pass them to the calls
}

// Missing fields take their defaults; mistakes are reported with the field.
func ExampleParseConfig() {
	// A fixed delay (no adaptiveDelay): 5ms.
	cfg, err := hedge.ParseConfig([]byte(`{"methods": ["/shop.Catalog/*"], "hedgingDelay": "5ms"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Methods, cfg.HedgingDelay, cfg.AdaptiveDelay, cfg.MaxAttempts, cfg.Budget, cfg.NonFatalStatusCodes)
	if _, err := hedge.New(cfg.Options()...); err != nil {
		log.Fatal(err)
	}

	_, err = hedge.ParseConfig([]byte(`{"hedgingDelay": "5"}`))
	fmt.Println(err)
	_, err = hedge.ParseConfig([]byte(`{"budget": 10}`))
	fmt.Println(err)
	// Output:
	// [/shop.Catalog/*] 5ms 0 2 0.1 [Unavailable]
	// hedge: field "hedgingDelay": invalid duration "5": want a duration such as "10s" or "250ms"
	// hedge: field "budget": must be a ratio of extra attempts to calls in (0, 1], such as 0.1, got 10
}

// Code that sends the attempts itself, as grpclb proxy's frame data plane
// does, asks the Hedger when to send another, within its budget.
func ExampleHedger_Begin() {
	h, err := hedge.New(hedge.Methods("/shop.Catalog/GetItem"), hedge.Delay(10*time.Millisecond))
	if err != nil {
		panic(err)
	}
	call := h.Begin("/shop.Catalog/GetItem")
	// Send the first attempt. If it has not answered after call.Delay():
	if call.Extra() {
		// Send the second attempt. It answers first, with success:
		call.End(1, nil)
	}
	s := h.Stats()
	fmt.Println(call.Delay(), s.Hedged, s.HedgeWins)
	// Output: 10ms 1 1
}
