package main

import (
	"bytes"
	"context"
	"time"

	"encoding/json"
	"errors"
	"fmt"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"net/netip"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/internal/testbed"
)

func fleet(t *testing.T, n int) *testbed.Fleet {
	t.Helper()
	f := testbed.FleetFor(t, n, testbed.FleetConfig{})
	return f
}

// resolved runs resolve with args and returns what it printed, which must
// say each of wants.
func resolved(t *testing.T, args []string, wants ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := runResolve(args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	return out.String()
}

func TestResolveStatic(t *testing.T) {
	resolved(t, []string{"static:///10.0.0.1:50051,10.0.0.2:50051"}, "2 endpoints", "10.0.0.2:50051")
}

// resolve --json against a real DNS server whose records the test sets.
func TestResolveDNSPollJSON(t *testing.T) {
	dns, err := testbed.StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.SetHosts("echo.test.", 1, netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8"))
	out := resolved(t, []string{"--json", fmt.Sprintf("dnspoll://%s/echo.test.:50051", dns.Addr)})
	var s resolvedState
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(s.Endpoints) != 2 || s.Endpoints[0].Addresses[0] != "127.0.0.7:50051" {
		t.Errorf("state %+v", s)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope:///x"}, `no resolver for scheme "nope"`},
		{[]string{"static:///"}, "static"},
		{[]string{"--timeout", "300ms", "kubernetes:///Bad:1"}, "service name"},
	} {
		var out, errOut bytes.Buffer
		err := runResolve(tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	var ue *usageError
	if err := runResolve(nil, &out, &errOut); !errors.As(err, &ue) || !strings.Contains(err.Error(), "want one TARGET") {
		t.Errorf("no target: %v", err)
	}
}

// bench spreads health checks over three real backends with round_robin,
// flags after the target.
func TestBenchHealthCheck(t *testing.T) {
	f := fleet(t, 3)
	var out, errOut bytes.Buffer
	target := "static:///" + strings.Join(f.Addrs(), ",")
	if err := runBench([]string{target, "--rate", "300", "--duration", "1s"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	for _, addr := range f.Addrs() {
		if !strings.Contains(out.String(), addr) {
			t.Errorf("backend %s missing:\n%s", addr, out.String())
		}
	}
	if !strings.Contains(out.String(), "300 ok") || strings.Contains(out.String(), "errors:") {
		t.Errorf("output:\n%s", out.String())
	}
}

// bench --method calls a unary method found by server reflection, with a
// JSON request.
func TestBenchReflectedMethod(t *testing.T) {
	f := fleet(t, 2)
	var out, errOut bytes.Buffer
	target := "static:///" + strings.Join(f.Addrs(), ",")
	args := []string{"--method", "/grpclb.testbed.v1.Echo/Echo", "--data", `{}`, "--rate", "100", "--duration", "500ms", "--policy", "p2c_ewma", target}
	if err := runBench(args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "50 ok") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, tc := range []struct{ method, data, want string }{
		{"/grpclb.testbed.v1.Echo/Nope", "{}", "has no method Nope"},
		{"/grpclb.testbed.v1.Echo/Echo", `{"nope":1}`, "--data for /grpclb.testbed.v1.Echo/Echo"},
		{"/grpclb.testbed.v1.Echo/EchoStream", "{}", "streaming"},
		{"Echo", "{}", "want package.Service/Method"},
	} {
		err := runBench([]string{"--method", tc.method, "--data", tc.data, "--duration", "100ms", target}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.method, tc.data, err, tc.want)
		}
	}
}

// bench speaks every policy it lists, grpc-go's included, and grpclb's
// stack; -n counts calls; -o json is data.
func TestBenchPoliciesJSON(t *testing.T) {
	f := fleet(t, 3)
	target := "static:///" + strings.Join(f.Addrs(), ",")
	for _, policy := range []string{"grpclb", "least_request", "ring_hash", "consistent_hash", "weighted_round_robin", "wrr", "outlier_ejection"} {
		t.Run(policy, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{target, "--policy", policy, "-n", "90", "--rate", "300", "-o", "json", "-H", "x-tenant: a"}
			if err := runBench(args, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
			}
			var s benchSummary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatalf("-o json is not JSON: %v\n%s", err, out.String())
			}
			if s.Calls != 90 || s.OK != 90 || s.Failed != 0 || s.P99ms == nil || s.Policy != policy {
				t.Errorf("summary %+v, want 90 ok calls", s)
			}
			// Hashing policies spread many keys; the others spread calls.
			if len(s.Backends) < 2 {
				t.Errorf("%s reached %d backend(s): %+v", policy, len(s.Backends), s.Backends)
			}
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", "magic", "dns:///a:1"}, `--policy "magic": no such policy (known: grpclb, round_robin`},
		{[]string{"-o", "yaml", "dns:///a:1"}, `-o "yaml"`},
		{[]string{"-H", "novalue", "dns:///a:1"}, `want key:value`},
		{[]string{"--cert", "c.pem", "dns:///a:1"}, "--cert and --key go together"},
		{[]string{"-n", "-1", "dns:///a:1"}, "-n -1"},
	} {
		var out, errOut bytes.Buffer
		err := runBench(tc.args, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestFullMethod(t *testing.T) {
	for in, want := range map[string]string{
		"/pkg.Svc/M": "/pkg.Svc/M",
		"pkg.Svc/M":  "/pkg.Svc/M",
		"pkg.Svc.M":  "/pkg.Svc/M",
		"a.b.Svc.M":  "/a.b.Svc/M",
	} {
		if got, err := fullMethod(in); err != nil || got != want {
			t.Errorf("fullMethod(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"M", "pkg.", "/pkg.Svc/", "a/b/c", ".M"} {
		if got, err := fullMethod(bad); err == nil {
			t.Errorf("fullMethod(%q) = %q, want an error", bad, got)
		}
	}
}

// Ctrl-C cancels the calls in flight; they are not the service's failures.
func TestBenchInterruptIsNotAFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 1)
	call := func(ctx context.Context, _ *peer.Peer) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	go func() {
		<-started
		cancel() // as SIGINT does through signal.NotifyContext
	}()
	res := driveBench(ctx, call, benchLoad{rate: 1000, duration: time.Minute, concurrency: 8, timeout: time.Minute}, nil)
	if !res.interrupted || res.ok != 0 || len(res.errors) != 0 {
		t.Errorf("interrupted %v, ok %d, errors %v; want interrupted with no failure", res.interrupted, res.ok, res.errors)
	}
}
