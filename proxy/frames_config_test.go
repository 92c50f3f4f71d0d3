package proxy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

const base = `
listen: 127.0.0.1:0
routes:
  - service: a.Svc
    cluster: one
  - prefix: /b.Svc/Get
    cluster: two
clusters:
  one:
    target: static:///127.0.0.1:1
  two:
    target: static:///127.0.0.1:2
    policy: p2c_ewma
`

func TestFramesConfig(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		wantErr     string
	}{
		{name: "routes and clusters"},
		{name: "listener TLS files missing", extra: "tls: {cert: nosuch.pem, key: nosuch-key.pem}\n", wantErr: "tls.cert/tls.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(base + tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := framesConfig(cfg, Options{}, nil)
			rc := plan.relay
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantRoutes := []framerelay.Route{{Prefix: "/a.Svc/", Cluster: "one"}, {Prefix: "/b.Svc/Get", Cluster: "two"}}
			if !slices.Equal(rc.Routes, wantRoutes) {
				t.Errorf("routes %v, want %v", rc.Routes, wantRoutes)
			}
			want := map[string]framerelay.Cluster{
				"one": {Target: "static:///127.0.0.1:1", LBConfig: `[{"round_robin":{}}]`},
				"two": {Target: "static:///127.0.0.1:2", LBConfig: `[{"p2c_ewma":{}}]`},
			}
			for name, cl := range want {
				got := rc.Clusters[name]
				if got.Target != cl.Target || got.LBConfig != cl.LBConfig || got.Resolver == nil || got.Resolver.Scheme() != "static" {
					t.Errorf("clusters.%s = %+v, want %+v with the static resolver", name, got, cl)
				}
			}
		})
	}
}

func TestFramesConfigLimits(t *testing.T) {
	cfg, err := ParseConfig([]byte(base + `
limits: {maxConcurrentStreams: 10, maxHeaderListBytes: 2048}
connections: {max: 3, idleTimeout: 1m, handshakeTimeout: 2s, maxAge: 5m, maxAgeGrace: 10s}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := framesConfig(cfg, Options{}, nil)
	rc := plan.relay
	if err != nil {
		t.Fatal(err)
	}
	want := framerelay.Limits{MaxRequestBytes: DefaultMaxMessageBytes, MaxResponseBytes: DefaultMaxMessageBytes, MaxConcurrentStreams: 10, MaxHeaderListBytes: 2048, MaxConnections: 3, IdleTimeout: time.Minute, HandshakeTimeout: 2 * time.Second,
		MaxConnectionAge: 5 * time.Minute, MaxConnectionAgeGrace: 10 * time.Second, MaxBufferedBytes: DefaultMaxBufferedBytes}
	if rc.Limits != want {
		t.Fatalf("limits %+v, want %+v", rc.Limits, want)
	}
}

// An idempotent route retries, with its policy (gRPC's defaults without
// one), or hedges, and never both.
func TestFramesConfigRouteResilience(t *testing.T) {
	cfg, err := ParseConfig([]byte(strings.Replace(base, "    cluster: two\n", "    cluster: two\n    idempotent: true\n    retry: {maxAttempts: 4, retryableStatusCodes: [ABORTED]}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routes[0].Idempotent = true
	plan, err := framesConfig(cfg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []*framerelay.RetryPolicy{plan.relay.Routes[0].Retry, plan.relay.Routes[1].Retry}
	want := []framerelay.RetryPolicy{
		{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, BackoffMultiplier: 2, Codes: []codes.Code{codes.Unavailable}},
		{MaxAttempts: 4, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, BackoffMultiplier: 2, Codes: []codes.Code{codes.Aborted}},
	}
	for i := range want {
		if got[i] == nil || got[i].MaxAttempts != want[i].MaxAttempts || got[i].InitialBackoff != want[i].InitialBackoff || got[i].MaxBackoff != want[i].MaxBackoff ||
			got[i].BackoffMultiplier != want[i].BackoffMultiplier || !slices.Equal(got[i].Codes, want[i].Codes) {
			t.Errorf("routes[%d].Retry = %+v, want %+v", i, got[i], want[i])
		}
	}
	cfg.Routes[1].Hedge = &HedgePolicy{}
	cfg.Routes[1].Retry = nil
	if plan, err = framesConfig(cfg, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if rt := plan.relay.Routes[1]; rt.Hedge == nil || rt.Retry != nil {
		t.Errorf("a hedged route: Hedge %v, Retry %v; want a Hedger and no retries", rt.Hedge, rt.Retry)
	}
}

func TestFramesConfigRefusesServiceConfigExtras(t *testing.T) {
	cfg, err := ParseConfig([]byte(strings.Replace(base, "policy: p2c_ewma",
		`policy: '{"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[]}'`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := framesConfig(cfg, Options{}, nil); err == nil || !strings.Contains(err.Error(), "clusters.two.policy") {
		t.Fatalf("a service config with methodConfig: %v, want it refused naming clusters.two.policy", err)
	}
}
