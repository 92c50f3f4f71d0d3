package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/proxy"
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

func TestRelayConfig(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		wantErr     string
		wantIgnored []string
	}{
		{name: "routes and clusters"},
		{name: "ignored settings", extra: "admin: 127.0.0.1:9901\nlimits: {maxConcurrentStreams: 10}\ndrain: {grace: 1s}\n",
			wantIgnored: []string{"admin", "limits", "drain"}},
		{name: "listener TLS", extra: "tls: {cert: c.pem, key: k.pem}\n", wantErr: "not implemented in the relay: tls"},
		{name: "reflection", extra: "reflection: true\n", wantErr: "not implemented in the relay: reflection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := proxy.ParseConfig([]byte(base + tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			rc, ignored, err := relayConfig(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ignored, tc.wantIgnored) {
				t.Errorf("ignored %v, want %v", ignored, tc.wantIgnored)
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
				if rc.Clusters[name] != cl {
					t.Errorf("clusters.%s = %+v, want %+v", name, rc.Clusters[name], cl)
				}
			}
		})
	}
}

func TestRelayConfigRefusesRouteResilience(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(strings.Replace(base, "    cluster: one\n", "    cluster: one\n    timeout: 1s\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := relayConfig(cfg); err == nil || !strings.Contains(err.Error(), "routes[0]: timeout") {
		t.Fatalf("a route timeout: %v, want it refused naming routes[0]", err)
	}
}

func TestRelayConfigRefusesServiceConfigExtras(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(strings.Replace(base, "policy: p2c_ewma",
		`policy: '{"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[]}'`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := relayConfig(cfg); err == nil || !strings.Contains(err.Error(), "clusters.two.policy") {
		t.Fatalf("a service config with methodConfig: %v, want it refused naming clusters.two.policy", err)
	}
}
