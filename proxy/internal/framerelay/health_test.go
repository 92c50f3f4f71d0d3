package framerelay_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// TestHealthFollowsClusters: the relay answers grpc.health.v1 itself. A
// routed service is NOT_SERVING while its cluster has no backend to
// offer, SERVING once one is READY, and NOT_SERVING again when it goes;
// Watch streams the changes.
func TestHealthFollowsClusters(t *testing.T) {
	f := startFleet(t, 1)
	mr := manual.NewBuilderWithScheme("framerelay-health")
	resolver.Register(mr)
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"echo": {Target: mr.Scheme() + ":///echo"}},
		Routes:   []framerelay.Route{{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "echo"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hc := healthpb.NewHealthClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
	const svc = "grpclb.testbed.v1.Echo"
	check := func(service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
		resp, err := hc.Check(testbed.Context(t, 10*time.Second), &healthpb.HealthCheckRequest{Service: service})
		return resp.GetStatus(), err
	}
	waitStatus := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		wait.Until(t, 10*time.Second, func() (bool, string) {
			got, err := check(service)
			return err == nil && got == want, "health of " + service + " " + got.String() + ", want " + want.String()
		})
	}
	for _, service := range []string{svc, ""} {
		if got, err := check(service); err != nil || got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("health of %q with no backend: %v, %v; want NOT_SERVING", service, got, err)
		}
	}
	if _, err := check("other.Svc"); status.Code(err) != codes.NotFound {
		t.Fatalf("health of a service no route names: %v, want NotFound", err)
	}

	mr.UpdateState(resolver.State{Endpoints: balancertest.EndpointsOf(f.Addrs()...)})
	waitStatus(svc, healthpb.HealthCheckResponse_SERVING)
	waitStatus("", healthpb.HealthCheckResponse_SERVING)

	watch, err := hc.Watch(testbed.Context(t, 30*time.Second), &healthpb.HealthCheckRequest{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch message: %v, %v; want SERVING", resp.GetStatus(), err)
	}
	f.Backends()[0].Stop()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after the only backend stopped: %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	waitStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
}
