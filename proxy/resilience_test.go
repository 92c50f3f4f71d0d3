package proxy_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/jsonconf"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

const flakyService = "test.Flaky"

// flaky is a backend of flakyService whose method Fail fails its first
// fail calls with code, then echoes; Hang never answers when hang is set.
// It records every attempt's grpc-previous-rpc-attempts.
type flaky struct {
	mu       sync.Mutex
	fail     int
	code     codes.Code
	hang     bool
	attempts []string // grpc-previous-rpc-attempts of each call, "" for none
}

func startFlaky(t *testing.T, f *flaky) string {
	t.Helper()
	return balancertest.ServeGRPC(t, grpc.NewServer(grpc.UnknownServiceHandler(f.handle)))
}

func (f *flaky) handle(_ any, ss grpc.ServerStream) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	f.mu.Lock()
	f.attempts = append(f.attempts, strings.Join(md.Get("grpc-previous-rpc-attempts"), ","))
	fail, hang := f.fail > 0, f.hang
	if fail {
		f.fail--
	}
	f.mu.Unlock()
	var m wrapperspb.StringValue
	if err := ss.RecvMsg(&m); err != nil {
		return err
	}
	switch {
	case hang:
		<-ss.Context().Done()
		return ss.Context().Err()
	case fail:
		return status.Errorf(f.code, "failing on purpose")
	}
	if err := ss.SendHeader(metadata.Pairs("x-header", "h")); err != nil {
		return err
	}
	ss.SetTrailer(metadata.Pairs("x-trailer", "t"))
	return ss.SendMsg(&m)
}

func (f *flaky) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.attempts...)
}

func callFlaky(ctx context.Context, cc *grpc.ClientConn, svc string, opts ...grpc.CallOption) (string, error) {
	var out wrapperspb.StringValue
	err := cc.Invoke(ctx, "/"+svc+"/Call", wrapperspb.String("ping"), &out, opts...)
	return out.GetValue(), err
}

// An idempotent route retries a retryable failure (the header, message
// and trailer of the attempt that succeeds reach the client, and each
// retry carries grpc-previous-rpc-attempts); a failure with another code
// is not retried, and a route that is not idempotent never retries.
func TestIdempotentRouteRetries(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := &flaky{code: codes.Unavailable}
			addr := startFlaky(t, f)
			cfg := oneCluster("passthrough:///" + addr)
			retry := &proxy.RetryPolicy{MaxAttempts: 3, InitialBackoff: proxy.Duration(time.Millisecond)}
			cfg.Routes = []proxy.Route{
				{Service: flakyService, Cluster: "c", Idempotent: true, Retry: retry},
				{Service: "test.Plain", Cluster: "c"},
			}
			paddr := startOn(t, plane, cfg)
			cc := dial(t, paddr)
			ctx := ctxTimeout(t, 30*time.Second)

			tests := []struct {
				name     string
				svc      string
				fail     int
				code     codes.Code
				want     codes.Code
				attempts []string
			}{
				{"two UNAVAILABLE then OK", flakyService, 2, codes.Unavailable, codes.OK, []string{"", "1", "2"}},
				{"UNAVAILABLE every attempt", flakyService, 5, codes.Unavailable, codes.Unavailable, []string{"", "1", "2"}},
				{"INTERNAL is not retryable", flakyService, 1, codes.Internal, codes.Internal, []string{""}},
				{"a route that is not idempotent", "test.Plain", 1, codes.Unavailable, codes.Unavailable, []string{""}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					f.mu.Lock()
					f.fail, f.code, f.attempts = tt.fail, tt.code, nil
					f.mu.Unlock()
					var hdr, trl metadata.MD
					got, err := callFlaky(ctx, cc, tt.svc, grpc.Header(&hdr), grpc.Trailer(&trl))
					if status.Code(err) != tt.want {
						t.Fatalf("call: %v, want %v", err, tt.want)
					}
					if seen := f.seen(); strings.Join(seen, "|") != strings.Join(tt.attempts, "|") {
						t.Errorf("the backend saw attempts with grpc-previous-rpc-attempts %q, want %q", seen, tt.attempts)
					}
					if tt.want == codes.OK && (got != "ping" || first(hdr, "x-header") != "h" || first(trl, "x-trailer") != "t") {
						t.Errorf("reply %q, header %v, trailer %v: want ping, x-header h, x-trailer t", got, hdr, trl)
					}
				})
			}
		})
	}
}

// An idempotent route with hedge sends a second attempt when the first is
// slow: with one of two backends never answering, every call succeeds
// (without hedging, half of them would wait for their deadline), with the
// answering backend's header and trailer, and the hedges carry
// grpc-previous-rpc-attempts. On both data planes.
func TestIdempotentRouteHedges(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			hung, fast := &flaky{}, &flaky{}
			cfg := oneCluster(staticTarget(startFlaky(t, hung), startFlaky(t, fast)))
			cfg.Routes = []proxy.Route{
				{Service: flakyService, Cluster: "c", Idempotent: true, Hedge: hedgePolicy(t, `{"hedgingDelay": "5ms", "budget": 1, "budgetBurst": 100}`)},
				{Service: "test.Plain", Cluster: "c"},
			}
			p, addr := startPlane(t, plane, cfg, proxy.Options{})
			cc := dial(t, addr)
			// Both backends READY first (each has answered a call): while
			// only one is, round_robin sends it the hedge too, and a call
			// to the hung one waits for its deadline.
			wait.Until(t, 30*time.Second, func() (bool, string) {
				if _, err := callFlaky(ctxTimeout(t, 10*time.Second), cc, "test.Plain"); err != nil {
					t.Fatal(err)
				}
				return len(hung.seen()) > 0 && len(fast.seen()) > 0, "a backend has answered no call yet"
			})
			hung.mu.Lock()
			hung.hang, hung.attempts = true, nil
			hung.mu.Unlock()
			fast.mu.Lock()
			fast.attempts = nil
			fast.mu.Unlock()

			const calls = 20
			for i := range calls {
				var hdr, trl metadata.MD
				got, err := callFlaky(ctxTimeout(t, 10*time.Second), cc, flakyService, grpc.Header(&hdr), grpc.Trailer(&trl))
				if err != nil || got != "ping" || first(hdr, "x-header") != "h" || first(trl, "x-trailer") != "t" {
					t.Fatalf("call %d: %q, %v, header %v, trailer %v; want every call answered by the backend that answers", i, got, err, hdr, trl)
				}
			}
			if n := len(hung.seen()); n == 0 {
				t.Error("the hung backend got no call: round_robin should have sent it some, and hedging rescued them")
			}
			if hedges := slices.Index(fast.seen(), "1"); hedges < 0 {
				t.Errorf("the backend that answers saw attempts %q: want hedges among them, with grpc-previous-rpc-attempts 1", fast.seen())
			}
			// /metrics counts them: every call, and the hedges that
			// answered the calls whose first attempt round_robin sent to
			// the hung backend (a first attempt carries no
			// grpc-previous-rpc-attempts).
			stuck := float64(len(slices.DeleteFunc(hung.seen(), func(a string) bool { return a != "" })))
			wait.Until(t, 10*time.Second, func() (bool, string) {
				n, hedged, extra, wins := hedgeMetric(t, p, "calls"), hedgeMetric(t, p, "hedged_calls"), hedgeMetric(t, p, "extra_attempts"), hedgeMetric(t, p, "wins")
				return n == calls && hedged >= stuck && extra >= hedged && wins >= stuck,
					fmt.Sprintf("hedge metrics: calls %v, hedged %v, extra attempts %v, wins %v; want %d calls, and at least %v hedged and won", n, hedged, extra, wins, calls, stuck)
			})
		})
	}
}

// hedgeMetric returns the proxy's grpclb_proxy_hedge_<name>_total of
// flakyService's route.
func hedgeMetric(t *testing.T, p dataPlane, name string) float64 {
	t.Helper()
	return metric(t, p, "grpclb_proxy_hedge_"+name+`_total{route="`+flakyService+`"}`)
}

// A reload keeps a hedged route's Hedger (its budget, adaptive delay and
// counters) while the route's hedge policy stays the same, and starts a
// new one when it changes. On both data planes.
func TestHedgerKeptAcrossReloads(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			cfg := oneCluster(staticTarget(startFlaky(t, &flaky{})))
			hedged := func(policy string) proxy.Route {
				return proxy.Route{Service: flakyService, Cluster: "c", Idempotent: true, Hedge: hedgePolicy(t, policy)}
			}
			cfg.Routes = []proxy.Route{hedged(`{"hedgingDelay": "1s"}`)}
			p, addr := startPlane(t, plane, cfg, proxy.Options{})
			cc := dial(t, addr)
			call := func(n int) {
				t.Helper()
				for range n {
					if _, err := callFlaky(ctxTimeout(t, 10*time.Second), cc, flakyService); err != nil {
						t.Fatal(err)
					}
				}
			}
			counted := func(want float64, after string) {
				t.Helper()
				wait.Until(t, 10*time.Second, func() (bool, string) {
					got := hedgeMetric(t, p, "calls")
					return got == want, fmt.Sprintf("%s: hedge calls %v, want %v", after, got, want)
				})
			}
			reload := func(policy string) {
				t.Helper()
				next := oneCluster(cfg.Clusters["c"].Target, "test.Plain") // another change beside the route's
				next.Routes = append(next.Routes, hedged(policy))
				if err := p.Reload(next); err != nil {
					t.Fatal(err)
				}
			}
			call(3)
			counted(3, "3 calls")
			reload(`{"hedgingDelay": "1s"}`)
			counted(3, "a reload with the same hedge policy (the Hedger kept)")
			call(2)
			counted(5, "2 more calls")
			reload(`{"hedgingDelay": "2s"}`)
			counted(0, "a reload with another hedge policy (a new Hedger)")
			call(1)
			counted(1, "1 call")
		})
	}
}

func hedgePolicy(t *testing.T, js string) *proxy.HedgePolicy {
	t.Helper()
	var h proxy.HedgePolicy
	if err := h.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return &h
}

// An idempotent route takes unary calls: one that sends a second request
// message is refused with UNIMPLEMENTED and never reaches a backend.
func TestIdempotentRouteRefusesStreams(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := &flaky{}
			cfg := oneCluster("passthrough:///" + startFlaky(t, f))
			cfg.Routes = []proxy.Route{{Service: flakyService, Cluster: "c", Idempotent: true}}
			paddr := startOn(t, plane, cfg)
			cc := dial(t, paddr)

			cs, err := cc.NewStream(ctxTimeout(t, 10*time.Second), &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/"+flakyService+"/Call")
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := cs.SendMsg(wrapperspb.String("x")); err != nil && err != io.EOF {
					t.Fatal(err)
				}
			}
			_ = cs.CloseSend()
			err = cs.RecvMsg(&wrapperspb.StringValue{})
			if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "second request") {
				t.Errorf("two request messages on an idempotent route: %v, want UNIMPLEMENTED naming the second request", err)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("the backend saw %d calls, want 0", n)
			}
		})
	}
}

// Validate refuses a retry policy made in Go with a NaN multiplier, which
// YAML cannot spell.
func TestRetryPolicyNaN(t *testing.T) {
	cfg := oneCluster("passthrough:///127.0.0.1:1")
	cfg.Routes = []proxy.Route{{Service: flakyService, Cluster: "c", Idempotent: true, Retry: &proxy.RetryPolicy{BackoffMultiplier: math.NaN(), RetryableStatusCodes: []jsonconf.Code{jsonconf.Code(codes.Aborted)}}}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "routes[0].retry.backoffMultiplier: must be between 1 and 100, got NaN") {
		t.Errorf("Validate: %v", err)
	}
}
