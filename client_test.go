package grpclb

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var insecureCreds = WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()))

func TestServiceConfig(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		want    []string // substrings of the JSON
		absent  []string
		wantErr string
	}{
		{name: "defaults", want: []string{`"loadBalancingConfig":[{"outlier_ejection":{`, `"childPolicy":[{"p2c_ewma":{}}]`, `"healthCheckConfig":{"serviceName":""}`}, absent: []string{"methodConfig"}},
		{name: "idempotent method and service", opts: []Option{WithIdempotent("/pkg.Svc/Get", "pkg.Other")},
			want: []string{`{"service":"pkg.Svc","method":"Get"}`, `{"service":"pkg.Other"}`, `"maxAttempts":4`, `"initialBackoff":"0.02s"`, `"retryableStatusCodes":["UNAVAILABLE"]`}},
		{name: "retry codes", opts: []Option{WithIdempotent("a.B"), WithRetryPolicy(RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: time.Second, BackoffMultiplier: 1.5, Codes: []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted}})},
			want: []string{`["UNAVAILABLE","DEADLINE_EXCEEDED","RESOURCE_EXHAUSTED"]`}},
		{name: "policy and health off", opts: []Option{WithLoadBalancing(`[{"round_robin":{}}]`), WithHealthCheck(false, "")},
			want: []string{`[{"round_robin":{}}]`}, absent: []string{"healthCheckConfig"}},
		{name: "health service", opts: []Option{WithHealthCheck(true, "echo")}, want: []string{`"serviceName":"echo"`}},

		{name: "policy not JSON", opts: []Option{WithLoadBalancing(`round_robin`)}, wantErr: "is not JSON"},
		{name: "policy not a list", opts: []Option{WithLoadBalancing(`{"round_robin":{}}`)}, wantErr: "must be a JSON list"},
		{name: "bad method", opts: []Option{WithIdempotent("/pkg.Svc")}, wantErr: "is not /package.Service/Method"},
		{name: "bad service", opts: []Option{WithIdempotent("pkg Svc")}, wantErr: "is not package.Service"},
		{name: "attempts", opts: []Option{WithIdempotent("a.B"), WithRetryPolicy(RetryPolicy{MaxAttempts: 9, InitialBackoff: 1, MaxBackoff: 1, BackoffMultiplier: 1, Codes: []codes.Code{codes.Unavailable}})}, wantErr: "MaxAttempts 9"},
		{name: "backoff", opts: []Option{WithIdempotent("a.B"), WithRetryPolicy(RetryPolicy{MaxAttempts: 2, InitialBackoff: 2, MaxBackoff: 1, BackoffMultiplier: 1, Codes: []codes.Code{codes.Unavailable}})}, wantErr: "retry backoff"},
		{name: "code OK", opts: []Option{WithIdempotent("a.B"), WithRetryPolicy(RetryPolicy{MaxAttempts: 2, InitialBackoff: 1, MaxBackoff: 1, BackoffMultiplier: 1, Codes: []codes.Code{codes.OK}})}, wantErr: "cannot be retried"},
		{name: "keepalive floor", opts: []Option{WithKeepalive(time.Second, time.Second)}, wantErr: "below grpc-go's floor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := ServiceConfig(tc.opts...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if _, err := NewClient("passthrough:///x", append(tc.opts, insecureCreds)...); err == nil {
					t.Error("NewClient accepted what ServiceConfig rejected")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(sc)) {
				t.Fatalf("not JSON: %s", sc)
			}
			for _, w := range tc.want {
				if !strings.Contains(sc, w) {
					t.Errorf("%s\nlacks %s", sc, w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(sc, a) {
					t.Errorf("%s\nhas %s", sc, a)
				}
			}
			// grpc-go itself accepts it.
			cc, err := NewClient("passthrough:///x", append(tc.opts, insecureCreds)...)
			if err != nil {
				t.Fatalf("grpc.NewClient rejected %s: %v", sc, err)
			}
			cc.Close()
		})
	}
}

// A backend killed under load (connections reset, calls in flight lost)
// fails no call of an idempotent method with NewClient; grpc-go's defaults
// with round_robin lose the calls in flight.
func TestKillUnderLoadFailsNoIdempotentCall(t *testing.T) {
	run := func(t *testing.T, dial func(target string) (*grpc.ClientConn, error)) (ok, failed int64) {
		f, err := testbed.StartFleet(3, testbed.FleetConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // before the next run: two fleets would share the CPU
		for _, b := range f.Backends() {
			b.SetLatency(5 * time.Millisecond) // calls are in flight when the kill comes
		}
		cc, err := dial("static:///" + strings.Join(f.Addrs(), ","))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		c := echopb.NewEchoClient(cc)
		resolvertest.WaitForSet(t, c, resolvertest.Names(f.Backends()...), 10*time.Second)
		load := resolvertest.StartLoad(c, 16)
		victim := f.Backends()[1]
		for range 3 {
			resolvertest.Eventually(t, 5*time.Second, "calls in flight on "+victim.Name, func() bool { return victim.InFlight() > 0 })
			victim.Kill()
			served := load.OK()
			resolvertest.Eventually(t, 5*time.Second, "calls after the kill", func() bool { return load.OK() > served+200 })
			if err := victim.Restart(); err != nil {
				t.Fatal(err)
			}
			resolvertest.Eventually(t, 10*time.Second, victim.Name+" serving again", func() bool { return victim.Served() > 0 && victim.InFlight() > 0 })
		}
		return load.Finish()
	}
	ok, failed := run(t, func(target string) (*grpc.ClientConn, error) {
		return NewClient(target, insecureCreds, WithIdempotent("grpclb.testbed.v1.Echo"))
	})
	t.Logf("grpclb.NewClient: %d ok, %d failed over 3 kills", ok, failed)
	if failed != 0 {
		t.Errorf("grpclb.NewClient: %d calls failed", failed)
	}
	ok, failed = run(t, func(target string) (*grpc.ClientConn, error) {
		return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	})
	t.Logf("grpc-go defaults + round_robin: %d ok, %d failed over 3 kills", ok, failed)
	if failed == 0 {
		t.Errorf("grpc-go defaults lost no call: the test does not show the problem")
	}
}

func TestWithHedging(t *testing.T) {
	if _, err := DialOptions(WithHedging()); err == nil || !strings.Contains(err.Error(), "WithIdempotent") {
		t.Errorf("hedging without idempotent methods: %v", err)
	}
	f := testbed.FleetFor(t, 2, testbed.FleetConfig{})
	slow := f.Backends()[0]
	slow.SetLatency(time.Second)
	cc, err := NewClient("static:///"+strings.Join(f.Addrs(), ","), insecureCreds,
		WithLoadBalancing(`[{"round_robin":{}}]`), WithIdempotent("grpclb.testbed.v1.Echo"),
		WithHealthCheck(false, ""), // the slow backend would answer its health check late
		WithHedging(hedge.Delay(20*time.Millisecond), hedge.Budget(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := echopb.NewEchoClient(cc)
	fast := f.Backends()[1]
	resolvertest.Eventually(t, 10*time.Second, "the fast backend answering", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = c.Echo(ctx, &echopb.EchoRequest{})
		return fast.Served() >= 2
	})
	// Every call that lands on the slow backend is hedged to the other
	// after 20ms: none takes a second.
	hedged := 0
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		resp, err := c.Echo(ctx, &echopb.EchoRequest{})
		took := time.Since(start)
		cancel()
		if err != nil || took > 500*time.Millisecond {
			t.Fatalf("call answered by %q after %v: %v", resp.GetBackend(), took, err)
		}
		if took >= 20*time.Millisecond {
			hedged++
		}
	}
	if hedged < 5 {
		t.Errorf("only %d of 20 calls waited for a hedge: round_robin should have sent about half to the slow backend", hedged)
	}
}
