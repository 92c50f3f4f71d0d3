package proxy_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// The proxy follows each cluster's resolver: /clusters and the cluster
// gauges show the endpoints it publishes and its last error, and the
// series of an endpoint that leaves the set are deleted. (A manual
// resolver stands in for the registry; the resolvers themselves are
// tested against real ones.) On both data planes.
func TestProxyFollowsTheResolver(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 3)
			addrs := f.Addrs()
			p, addr, r := startWithResolver(t, plane, addrs...)
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			client := echopb.NewEchoClient(dial(t, addr))
			series := func(upstream string) bool {
				return strings.Contains(get(t, admin.URL+"/metrics"), `upstream="`+upstream+`"`)
			}
			wait.For(t, 30*time.Second, "calls reaching all 3 endpoints", func() bool {
				_, _ = client.Echo(ctxTimeout(t, 5*time.Second), &echopb.EchoRequest{})
				return series(addrs[0]) && series(addrs[1]) && series(addrs[2])
			})
			if n := metric(t, p, `grpclb_proxy_cluster_endpoints{cluster="c"}`); n != 3 {
				t.Errorf("cluster_endpoints %v, want 3", n)
			}

			r.UpdateState(resolver.State{Endpoints: endpointsOf(addrs[1:]...)})
			wait.For(t, 30*time.Second, "the series of the endpoint that left deleted", func() bool { return !series(addrs[0]) })
			if !series(addrs[1]) || !series(addrs[2]) {
				t.Error("the series of endpoints that stayed were deleted too")
			}
			var clusters []proxy.ClusterStatus
			// The subchannel of the endpoint that left shows until it is shut down.
			wait.Until(t, 30*time.Second, func() (bool, string) {
				clusters = nil
				getJSON(t, admin.URL+"/clusters", &clusters)
				got := strings.Join(addressesOf(clusters[0].Endpoints), ",")
				return got == strings.Join(sorted(addrs[1:]), ","), "/clusters endpoints " + got
			})
			if n := metric(t, p, `grpclb_proxy_cluster_endpoints{cluster="c"}`); n != 2 {
				t.Errorf("cluster_endpoints %v, want 2", n)
			}
			// Calls still reach the other two, and their series grow.
			for range 10 {
				if _, err := client.Echo(ctxTimeout(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			if series(addrs[0]) {
				t.Error("a series of the endpoint that left came back without a call to it")
			}

			r.CC().ReportError(errors.New("registry down"))
			getJSON(t, admin.URL+"/clusters", &clusters)
			if clusters[0].ResolverError != "registry down" {
				t.Errorf("/clusters resolverError %q, want %q", clusters[0].ResolverError, "registry down")
			}
		})
	}
}

// A call still running on an endpoint that left the resolver's set (a
// pod scaled down, draining) shows in /clusters: the address stays,
// without state or subchannels, with its calls in flight, until they
// end; it used to vanish at once, calls and all. On both data planes.
func TestClustersCountCallsOnARemovedEndpoint(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 2)
			addrs := f.Addrs()
			p, addr, r := startWithResolver(t, plane, addrs[0])
			client := echopb.NewEchoClient(dial(t, addr))
			stream, _ := testbed.OpenStream(t, ctxTimeout(t, time.Minute), client)

			r.UpdateState(resolver.State{Endpoints: endpointsOf(addrs[1])})
			endpoint := func(a string) (proxy.EndpointStatus, bool) {
				for _, e := range p.Clusters()[0].Endpoints {
					if e.Address == a {
						return e, true
					}
				}
				return proxy.EndpointStatus{}, false
			}
			wait.Until(t, 30*time.Second, func() (bool, string) {
				old, _ := endpoint(addrs[0])
				added, _ := endpoint(addrs[1])
				return old.Subchannels == 0 && added.State == "READY", fmt.Sprintf("the removed endpoint's subchannel shut down, the added one READY: %+v, %+v", old, added)
			})
			if _, err := client.Echo(ctxTimeout(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
				t.Fatalf("a call after the change: %v", err)
			}
			if e, ok := endpoint(addrs[0]); !ok || e.InFlight != 1 || e.State != "" || e.Weight != 0 {
				t.Errorf("the removed endpoint with a stream on it: %+v (listed %v); want in flight 1, no state, weight 0", e, ok)
			}

			if err := stream.Send(&echopb.EchoRequest{}); err != nil {
				t.Fatalf("the stream on the removed endpoint: %v", err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("the stream on the removed endpoint: %v", err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("the stream's end: %v", err)
			}
			wait.Until(t, 10*time.Second, func() (bool, string) {
				e, ok := endpoint(addrs[0])
				return !ok, fmt.Sprintf("the removed endpoint gone once its stream ended: %+v", e)
			})
		})
	}
}

// startWithResolver starts plane with one cluster, routed the echo
// service, whose target a manual resolver serves (standing in for a
// registry), having first published addrs.
func startWithResolver(t *testing.T, plane string, addrs ...string) (dataPlane, string, *manual.Resolver) {
	t.Helper()
	r := manual.NewBuilderWithScheme("test")
	r.InitialState(resolver.State{Endpoints: endpointsOf(addrs...)})
	p, addr := startPlane(t, plane, oneCluster("test:///fleet", echoService), proxy.Options{Resolvers: []resolver.Builder{r}})
	return p, addr, r
}

func endpointsOf(addrs ...string) []resolver.Endpoint {
	var eps []resolver.Endpoint
	for _, a := range addrs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	return eps
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A cluster whose resolver publishes no endpoints makes /readyz 503 and
// its service NOT_SERVING; SERVING again once an endpoint appears.
// On both data planes.
func TestEmptyClusterIsNotServing(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			p, addr, r := startWithResolver(t, plane, f.Addrs()...)
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			health := healthpb.NewHealthClient(dial(t, addr))
			serving := func(want healthpb.HealthCheckResponse_ServingStatus, code int) {
				t.Helper()
				wait.Until(t, 30*time.Second, func() (bool, string) {
					resp, err := health.Check(ctxTimeout(t, 5*time.Second), &healthpb.HealthCheckRequest{Service: echoService})
					got, body := readyz(t, admin.URL)
					return err == nil && resp.GetStatus() == want && got == code, fmt.Sprintf("health %v %v, /readyz %d %s", resp.GetStatus(), err, got, body)
				})
			}
			serving(healthpb.HealthCheckResponse_SERVING, http.StatusOK)
			r.UpdateState(resolver.State{})
			serving(healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable)
			r.UpdateState(resolver.State{Endpoints: endpointsOf(f.Addrs()...)})
			serving(healthpb.HealthCheckResponse_SERVING, http.StatusOK)
		})
	}
}

func addressesOf(eps []proxy.EndpointStatus) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Address)
	}
	return out
}
