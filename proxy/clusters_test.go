package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/internal/jsonconf"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// /clusters shows each cluster's target, policy, state and health, and
// the reason of the last call that found no healthy upstream; /config
// shows the config in use, which parses back to itself. On both data
// planes.
func TestAdminClustersAndConfig(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			dead := testbed.RefusingAddr(t)
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Clusters["c"].Policy = "p2c_ewma"
			cfg.Clusters["down"] = &proxy.Cluster{Target: "passthrough:///" + dead}
			cfg.Clusters["spare"] = &proxy.Cluster{Target: "passthrough:///" + dead, Policy: "pick_first"} // no route
			cfg.Clusters["refl"] = &proxy.Cluster{Target: staticTarget(f.Addrs()...)}                      // reflection's only
			cfg.Reflection = proxy.Reflection{Cluster: "refl"}
			cfg.Routes = append(cfg.Routes, proxy.Route{Service: "grpclb.testbed.v1.Other", Cluster: "down"},
				proxy.Route{Service: "a.Retried", Cluster: "c", Idempotent: true, Retry: &proxy.RetryPolicy{MaxAttempts: 4, RetryableStatusCodes: []jsonconf.Code{jsonconf.Code(codes.Aborted)}}},
				proxy.Route{Service: "a.Hedged", Cluster: "c", Idempotent: true, Hedge: hedgePolicy(t, `{"hedgingDelay": "5ms"}`)})
			p, addr := startPlane(t, plane, cfg, proxy.Options{})
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			cc := dial(t, addr)
			// A call to the dead cluster (the Echo method under another service name).
			_ = cc.Invoke(ctxTimeout(t, 5*time.Second), "/grpclb.testbed.v1.Other/Echo", &echopb.EchoRequest{}, &echopb.EchoResponse{})

			var clusters []proxy.ClusterStatus
			wait.Until(t, 30*time.Second, func() (bool, string) {
				clusters = nil
				getJSON(t, admin.URL+"/clusters", &clusters)
				return len(clusters) == 4 && clusters[0].Healthy && clusters[0].State == "READY", "clusters: " + mustJSON(clusters)
			})
			c, down, refl, spare := clusters[0], clusters[1], clusters[2], clusters[3]
			if refl.Name != "refl" || refl.Target != cfg.Clusters["refl"].Target {
				t.Errorf("cluster refl (reflection.cluster): %s", mustJSON(refl))
			}
			if c.Name != "c" || c.Policy != `{"loadBalancingConfig":[{"p2c_ewma":{}}]}` || !reflect.DeepEqual(c.Routes, []string{echoService, "a.Retried", "a.Hedged"}) || c.LastUnreached != nil {
				t.Errorf("cluster c: %s", mustJSON(c))
			}
			if down.Name != "down" || down.Healthy || down.LastUnreached == nil || !strings.Contains(down.LastUnreached.Reason, dead) {
				t.Errorf("cluster down: %s; want unhealthy, its last unreached call naming %s", mustJSON(down), dead)
			}
			// A cluster no route uses is listed too (Proxy dials it; Frames
			// builds it only once a route uses it).
			if spare.Name != "spare" || spare.Target != "passthrough:///"+dead || spare.Policy != `{"loadBalancingConfig":[{"pick_first":{}}]}` || len(spare.Routes) != 0 || spare.Healthy {
				t.Errorf("cluster spare: %s; want listed with its target and policy, no routes, not healthy", mustJSON(spare))
			}

			var effective proxy.Config
			getJSON(t, admin.URL+"/config", &effective)
			body, _ := json.Marshal(effective)
			back, err := proxy.ParseConfig(body)
			if err != nil {
				t.Fatalf("/config does not parse back: %v\n%s", err, body)
			}
			if !reflect.DeepEqual(*back, p.Config()) {
				t.Errorf("/config parses to %+v, want %+v", *back, p.Config())
			}
		})
	}
}

// /debug/pprof/ is there only with Options.Pprof.
func TestAdminPprof(t *testing.T) {
	f := startFleet(t, 1)
	p, _ := startProxy(t, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
	admin := httptest.NewServer(p.AdminHandler())
	defer admin.Close()
	if code := httpGet(t, admin.URL+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without Options.Pprof: %d, want 404", code)
	}
	p2, _ := startProxy(t, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{Pprof: true})
	admin2 := httptest.NewServer(p2.AdminHandler())
	defer admin2.Close()
	if code := httpGet(t, admin2.URL+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with Options.Pprof: %d, want 200", code)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
