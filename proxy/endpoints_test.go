package proxy_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// /clusters shows each endpoint's weight, the state of its subchannel
// and the calls in flight on it: calls stuck on a backend that never
// answers are counted there until they end; an address nothing listens on
// is not READY. On both data planes.
func TestClustersShowEndpoints(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			hung, fast := &flaky{hang: true}, &flaky{}
			hungAddr, fastAddr := startFlaky(t, hung), startFlaky(t, fast)
			dead := testbed.RefusingAddr(t)
			r := manual.NewBuilderWithScheme("test")
			r.InitialState(resolver.State{Endpoints: []resolver.Endpoint{
				endpoint.WithWeight(resolver.Endpoint{Addresses: []resolver.Address{{Addr: hungAddr}}}, 5),
				{Addresses: []resolver.Address{{Addr: fastAddr}}},
				{Addresses: []resolver.Address{{Addr: dead}}},
			}})
			cfg := oneCluster("test:///x", flakyService)
			p, addr := startPlane(t, plane, cfg, proxy.Options{Resolvers: []resolver.Builder{r}})
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			cc := dial(t, addr)

			byAddr := func() map[string]proxy.EndpointStatus {
				var clusters []proxy.ClusterStatus
				getJSON(t, admin.URL+"/clusters", &clusters)
				out := map[string]proxy.EndpointStatus{}
				for _, e := range clusters[0].Endpoints {
					out[e.Address] = e
				}
				return out
			}
			wait.Until(t, 30*time.Second, func() (bool, string) {
				eps := byAddr()
				return eps[hungAddr].State == "READY" && eps[fastAddr].State == "READY", "endpoints: " + mustJSON(eps)
			})

			// Calls until 3 are stuck on the hung backend (round_robin sends it
			// one in two of the calls that reach a READY endpoint).
			ctx, cancel := context.WithCancel(ctxTimeout(t, time.Minute))
			defer cancel()
			for started := 0; len(hung.seen()) < 3; started++ {
				if started == 100 {
					t.Fatalf("100 calls, %d of them on the hung backend", len(hung.seen()))
				}
				go func() { _, _ = callFlaky(ctx, cc, flakyService) }()
				wait.For(t, 10*time.Second, "the call to reach a backend", func() bool { return len(hung.seen())+len(fast.seen()) > started })
			}
			wait.Until(t, 30*time.Second, func() (bool, string) {
				eps := byAddr()
				return eps[hungAddr].InFlight == int64(len(hung.seen())) && eps[fastAddr].InFlight == 0, "endpoints: " + mustJSON(eps)
			})
			eps := byAddr()
			if e := eps[hungAddr]; e.Weight != 5 || e.Subchannels != 1 {
				t.Errorf("hung endpoint %+v, want weight 5 and 1 subchannel", e)
			}
			if e := eps[fastAddr]; e.Weight != 1 {
				t.Errorf("fast endpoint %+v, want weight 1 (none set)", e)
			}
			if e := eps[dead]; e.State == "READY" || e.State == "" {
				t.Errorf("dead endpoint %+v, want a state that is not READY", e)
			}
			cancel()
			wait.Until(t, 30*time.Second, func() (bool, string) {
				eps := byAddr()
				return eps[hungAddr].InFlight == 0, "endpoints after the calls ended: " + mustJSON(eps)
			})
		})
	}
}
