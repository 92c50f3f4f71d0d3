package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/internal/testbed"
)

func fleet(t *testing.T, n int) *testbed.Fleet {
	t.Helper()
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func TestResolveStatic(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runResolve([]string{"static:///10.0.0.1:50051,10.0.0.2:50051"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "2 endpoints") || !strings.Contains(out.String(), "10.0.0.2:50051") {
		t.Errorf("output:\n%s", out.String())
	}
}

// resolve --json against a real DNS server whose records the test sets.
func TestResolveDNSPollJSON(t *testing.T) {
	dns, err := testbed.StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.SetHosts("echo.test.", 1, netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8"))
	var out, errOut bytes.Buffer
	target := fmt.Sprintf("dnspoll://%s/echo.test.:50051", dns.Addr)
	if err := runResolve([]string{"--json", target}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var s resolvedState
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("%v: %s", err, out.String())
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
	if err := runResolve(nil, &out, &errOut); err != errUsage || !strings.Contains(errOut.String(), "Examples:") {
		t.Errorf("no target: %v, help %q", err, errOut.String())
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
		{"Echo", "{}", "is not /package.Service/Method"},
	} {
		err := runBench([]string{"--method", tc.method, "--data", tc.data, "--duration", "100ms", target}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.method, tc.data, err, tc.want)
		}
	}
}
