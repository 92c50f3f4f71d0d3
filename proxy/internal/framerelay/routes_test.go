package framerelay_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// TestRoutesChooseClusters: each call goes to the cluster of the longest
// route prefix its method matches; a method no route matches, or a path
// that is not exactly /service/method, gets UNIMPLEMENTED and reaches no
// backend.
func TestRoutesChooseClusters(t *testing.T) {
	unary, streams := startFleet(t, 1), startFleet(t, 1)
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{
			"unary":   {Target: balancertest.StaticTarget(unary.Addrs())},
			"streams": {Target: balancertest.StaticTarget(streams.Addrs()), LBConfig: `[{"pick_first":{}}]`},
		},
		Routes: []framerelay.Route{
			{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "unary"},
			{Prefix: "/grpclb.testbed.v1.Echo/EchoS", Cluster: "streams"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, balancertest.Serve(t, r.Serve, r.Close))
	c := echopb.NewEchoClient(cc)
	resp, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
	if err != nil || resp.GetBackend() != unary.Backends()[0].Name {
		t.Fatalf("Echo: %v from %q, want an answer from cluster unary's %s", err, resp.GetBackend(), unary.Backends()[0].Name)
	}
	if _, resp := testbed.OpenStream(t, testbed.Context(t, 10*time.Second), c); resp.GetBackend() != streams.Backends()[0].Name {
		t.Fatalf("EchoStream answered by %q, want cluster streams' %s", resp.GetBackend(), streams.Backends()[0].Name)
	}
	// A backend would answer these with UNIMPLEMENTED too: the message
	// says whether the relay refused them.
	for method, want := range map[string]string{
		"/grpclb.testbed.v2.Echo/Echo":            "framerelay: no route for method",
		"/grpclb.testbed.v1.Echo/Echo/../Echo":    "framerelay: malformed method path",
		"/grpclb.testbed.v1.Echo/../v1.Echo/Echo": "framerelay: malformed method path",
	} {
		err := cc.Invoke(testbed.Context(t, 10*time.Second), method, &echopb.EchoRequest{}, &echopb.EchoResponse{})
		if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), want) {
			t.Errorf("%s: %v, want Unimplemented: %s", method, err, want)
		}
	}
}

// TestRoutedConfigErrors: a config the relay cannot route with is refused
// with what is wrong and where.
func TestRoutedConfigErrors(t *testing.T) {
	ok := map[string]framerelay.Cluster{"a": {Target: "static:///127.0.0.1:1"}}
	for _, tc := range []struct {
		name string
		cfg  framerelay.Config
		want string
	}{
		{"no routes", framerelay.Config{Clusters: ok}, "no routes"},
		{"undefined cluster", framerelay.Config{Clusters: ok, Routes: []framerelay.Route{{Prefix: "/a.B/", Cluster: "b"}}}, `routes[0]: cluster "b" is not defined`},
		{"bad prefix", framerelay.Config{Clusters: ok, Routes: []framerelay.Route{{Prefix: "a.B", Cluster: "a"}}}, `routes[0]: prefix "a.B"`},
		{"prefix with two methods", framerelay.Config{Clusters: ok, Routes: []framerelay.Route{{Prefix: "/a.B/C/D", Cluster: "a"}}}, `routes[0]: prefix "/a.B/C/D"`},
		{"same prefix twice", framerelay.Config{Clusters: ok, Routes: []framerelay.Route{{Prefix: "/a.B/", Cluster: "a"}, {Prefix: "/a.B/", Cluster: "a"}}}, "routes[1]: prefix /a.B/ is also routes[0]'s"},
		{"bad target", framerelay.Config{
			Clusters: map[string]framerelay.Cluster{"a": {Target: "nosuchscheme:///x"}},
			Routes:   []framerelay.Route{{Prefix: "/a.B/", Cluster: "a"}},
		}, `clusters.a: framerelay: target "nosuchscheme:///x": no resolver for scheme "nosuchscheme"`},
		{"bad policy", framerelay.Config{
			Clusters: map[string]framerelay.Cluster{"a": {Target: "static:///127.0.0.1:1", LBConfig: `[{"no_such_policy":{}}]`}},
			Routes:   []framerelay.Route{{Prefix: "/a.B/", Cluster: "a"}},
		}, "no registered policy (unknown: no_such_policy)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := framerelay.NewRouted(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
