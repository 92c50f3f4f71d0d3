package proxy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/grpclb/grpclb/balancer/p2c"     // p2c_ewma, in the example
	_ "github.com/grpclb/grpclb/resolver/dnspoll" // dnspoll:///, in the example
	_ "github.com/grpclb/grpclb/resolver/kube"    // kubernetes:///, in the example
	"sigs.k8s.io/yaml"

	"github.com/grpclb/grpclb/proxy"
)

func TestExampleConfigParses(t *testing.T) {
	cfg, err := proxy.LoadConfig("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 3 || len(cfg.Clusters) != 3 || cfg.Listen != "0.0.0.0:8443" || cfg.Reflection != (proxy.Reflection{Cluster: "catalog"}) {
		t.Errorf("parsed %+v", cfg)
	}
	if got := string(cfg.Clusters["search"].Policy); got != `{"loadBalancingConfig":[{"p2c_ewma":{}}]}` {
		t.Errorf("a policy given as a mapping became %s", got)
	}
	if k := cfg.Clusters["search"].Keepalive; k == nil || *k != (proxy.Keepalive{Time: proxy.Duration(5 * time.Minute), Timeout: proxy.Duration(20 * time.Second)}) {
		t.Errorf("keepalive: %+v", k)
	}
	partial, err := proxy.ParseConfig([]byte(goodConfig + "    keepalive: {time: 1m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k := partial.Clusters["echo"].Keepalive; *k != (proxy.Keepalive{Time: proxy.Duration(time.Minute), Timeout: proxy.Duration(20 * time.Second)}) {
		t.Errorf("keepalive with time only: %+v, want the default timeout of 20s", k)
	}
	if cfg.Drain.Grace != proxy.Duration(5*time.Second) || cfg.Connections.MaxAge != proxy.Duration(10*time.Minute) {
		t.Errorf("durations: %+v %+v", cfg.Drain, cfg.Connections)
	}
}

const goodConfig = `
routes:
  - service: grpc.testing.TestService
    cluster: echo
clusters:
  echo:
    target: static:///127.0.0.1:1
`

// withRoute is goodConfig with one more route.
func withRoute(route string) string {
	return strings.Replace(goodConfig, "clusters:", "  - "+route+"\nclusters:", 1)
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", ``, []string{"routes: none defined", "clusters: none defined"}},
		{"unknown top-level field", goodConfig + "listn: x:1\n", []string{`unknown field "listn"`}},
		{"unknown nested field", strings.Replace(goodConfig, "    target:", "    targt: x\n    target:", 1), []string{`field "clusters.echo": unknown field "targt" (known fields: "target", "policy", "tls", "keepalive")`}},
		{"empty target", strings.Replace(goodConfig, "static:///127.0.0.1:1", `""`, 1), []string{"clusters.echo.target: empty"}},
		{"unregistered scheme", strings.Replace(goodConfig, "static:///", "nope:///", 1), []string{`clusters.echo.target: no resolver is registered for scheme "nope"`}},
		{"route to undefined cluster", `
routes:
  - service: a.A
    cluster: echo
  - service: a.B
    cluster: echo
  - service: a.C
    cluster: nope
clusters:
  echo: {target: "static:///127.0.0.1:1"}
`, []string{`routes[2].cluster: "nope" is not a defined cluster`}},
		{"bad policy JSON", goodConfig + "    policy: '{\"loadBalancingConfig\": [}'\n", []string{"clusters.echo.policy: grpc: the provided default service config is invalid"}},
		{"unknown policy", goodConfig + "    policy: '{\"loadBalancingConfig\":[{\"no_such_policy\":{}}]}'\n", []string{"clusters.echo.policy:"}},
		{"policy list of numbers", goodConfig + "    policy: [1, 2]\n", []string{"clusters.echo.policy: grpc: the provided default service config is invalid"}},
		{"policy a number", goodConfig + "    policy: 7\n", []string{`field "clusters.echo.policy": must be a policy name, a loadBalancingConfig list or a service config, got 7`}},
		{"static target without addresses", strings.Replace(goodConfig, "static:///127.0.0.1:1", "static:///garbage", 1), []string{"clusters.echo.target: static:"}},
		{"dnspoll target with a NaN jitter", strings.Replace(goodConfig, "static:///127.0.0.1:1", "dnspoll:///host:1?jitter=NaN", 1), []string{"clusters.echo.target: dnspoll:", "jitter"}},
		{"kubernetes target with an unknown option", strings.Replace(goodConfig, "static:///127.0.0.1:1", "kubernetes:///svc:grpc?bogus=1", 1), []string{"clusters.echo.target: kubernetes:", "bogus"}},
		{"unknown bare policy", goodConfig + "    policy: p2c\n", []string{`clusters.echo.policy: "p2c" is not a registered policy name`}},
		{"service and prefix", strings.Replace(goodConfig, "  - service: grpc.testing.TestService\n", "  - service: a.B\n    prefix: /a.B/\n", 1), []string{"routes[0]: set one of service and prefix"}},
		{"no match", strings.Replace(goodConfig, "  - service: grpc.testing.TestService\n", "  - name: x\n", 1), []string{"routes[0]: set service or prefix"}},
		{"bad prefix", strings.Replace(goodConfig, "service: grpc.testing.TestService", "prefix: /grpc.testing", 1), []string{"routes[0]: prefix:"}},
		{"catch-all prefix", strings.Replace(goodConfig, "service: grpc.testing.TestService", "prefix: /", 1), []string{"routes[0]: prefix:"}},
		{"bad service name", strings.Replace(goodConfig, "grpc.testing.TestService", "grpc/testing", 1), []string{"routes[0]: service:"}},
		{"duplicate match", withRoute("{prefix: /grpc.testing.TestService/, cluster: echo}"), []string{"routes[1]: matches the same calls as routes[0]"}},
		{"duplicate name", withRoute("{name: grpc.testing.TestService, service: a.B, cluster: echo}"), []string{"routes[1].name:"}},
		{"bad listen", goodConfig + "listen: nohostport\n", []string{"listen:"}},
		{"same admin and listen", goodConfig + "listen: 127.0.0.1:1\nadmin: 127.0.0.1:1\n", []string{"admin: same address as listen"}},
		{"tls without key", goodConfig + "tls: {cert: a.pem}\n", []string{"tls.key: empty"}},
		{"upstream tls cert without key", goodConfig + "    tls: {cert: a.pem}\n", []string{"clusters.echo.tls: cert and key must be set together"}},
		{"keepalive time of zero", goodConfig + "    keepalive: {time: 0s}\n", []string{`field "clusters.echo.keepalive.time": must be positive, got "0s"`}},
		{"keepalive timeout over an hour", goodConfig + "    keepalive: {timeout: 2h}\n", []string{`field "clusters.echo.keepalive.timeout": must be at most 1h0m0s, got "2h0m0s"`}},
		{"keepalive unknown field", goodConfig + "    keepalive: {interval: 1m}\n", []string{`unknown field "interval"`, `"time", "timeout"`}},
		{"negative limit", goodConfig + "limits: {maxRequestBytes: -1}\n", []string{"limits.maxRequestBytes: negative"}},
		{"limit of the wrong type", goodConfig + "limits: {maxRequestBytes: lots}\n", []string{`field "limits.maxRequestBytes": "lots" is not an integer`}},
		{"bad duration", goodConfig + "drain: {grace: 5}\n", []string{`field "drain.grace": 5 is not a duration string such as "10s"`}},
		{"unparsable duration", goodConfig + "drain: {grace: 5 parsecs}\n", []string{`field "drain.grace":`, "parsecs"}},
		{"negative drain timeout", goodConfig + "drain: {timeout: -1s}\n", []string{"drain.timeout: negative"}},
		{"unknown field in a route", "routes: [{service: a.B, cluster: c, extra: 1}]\n", []string{`field "routes[0]": unknown field "extra"`}},
		{"routes not a list", "routes: {a: 1}\n", []string{`field "routes": must be a list, got an object`}},
		{"null cluster", "routes: [{service: a.B, cluster: x}]\nclusters: {x: }\n", []string{"clusters.x: empty"}},
		{"not YAML", "routes: [\n", []string{"proxy config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proxy.ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A cluster's policy may be a name, a loadBalancingConfig list (YAML or
// JSON) or a whole service config, and each dials the same config.
func TestPolicyForms(t *testing.T) {
	const want = `{"loadBalancingConfig":[{"p2c_ewma":{}}]}`
	for _, policy := range []string{
		"p2c_ewma",
		"' p2c_ewma '",
		"[{p2c_ewma: {}}]",
		`'[{"p2c_ewma":{}}]'`,
		"{loadBalancingConfig: [{p2c_ewma: {}}]}",
		`'{"loadBalancingConfig":[{"p2c_ewma":{}}]}'`,
	} {
		cfg, err := proxy.ParseConfig([]byte(goodConfig + "    policy: " + policy + "\n"))
		if err != nil {
			t.Errorf("policy: %s: %v", policy, err)
			continue
		}
		sc, err := cfg.Clusters["echo"].Policy.ServiceConfig()
		if err != nil || strings.ReplaceAll(sc, " ", "") != want {
			t.Errorf("policy: %s: service config %s, %v; want %s", policy, sc, err, want)
		}
	}
	if sc, err := proxy.Policy("").ServiceConfig(); sc != proxy.DefaultPolicy || err != nil {
		t.Errorf("no policy: %s, %v; want %s", sc, err, proxy.DefaultPolicy)
	}
}

func TestParseConfigGood(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(goodConfig + "    policy:\n      loadBalancingConfig: [{pick_first: {}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.Clusters["echo"].Policy); got != `{"loadBalancingConfig":[{"pick_first":{}}]}` {
		t.Errorf("policy = %s", got)
	}
	// JSON is YAML.
	if _, err := proxy.ParseConfig([]byte(`{"routes":[{"prefix":"/a.B/Get","cluster":"c"}],"clusters":{"c":{"target":"passthrough:///127.0.0.1:1"}}}`)); err != nil {
		t.Errorf("JSON config: %v", err)
	}
	// A target without a scheme is grpc-go's default (dns).
	if _, err := proxy.ParseConfig([]byte("routes: [{service: a.B, cluster: c}]\nclusters: {c: {target: 'localhost:50051'}}\n")); err != nil {
		t.Errorf("target without scheme: %v", err)
	}
}

func TestLoadConfigResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.yaml")
	body := goodConfig + "    tls: {ca: ca.pem, cert: /abs/c.pem, key: k.pem}\ntls: {cert: s.pem, key: s.key, clientCA: sub/ca.pem}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := proxy.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	up := cfg.Clusters["echo"].TLS
	if up.CA != filepath.Join(dir, "ca.pem") || up.Cert != "/abs/c.pem" || up.Key != filepath.Join(dir, "k.pem") {
		t.Errorf("cluster TLS paths: %+v", up)
	}
	if cfg.TLS.ClientCA != filepath.Join(dir, "sub/ca.pem") || cfg.TLS.Cert != filepath.Join(dir, "s.pem") {
		t.Errorf("listener TLS paths: %+v", cfg.TLS)
	}
	if _, err := proxy.LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
}

func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(goodConfig))
	f.Add([]byte(`{"routes":[{"prefix":"/a.B/Get","cluster":"c"}],"clusters":{"c":{"target":"passthrough:///x","policy":{"loadBalancingConfig":[{"round_robin":{}}]}}}}`))
	f.Add([]byte("routes: [{service: a.B, cluster: c}]\nclusters: {c: {target: 'dns:///x:1', policy: '{}'}}\ndrain: {grace: 1s}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := proxy.ParseConfig(b)
		if err != nil {
			if cfg != nil {
				t.Fatal("a config with an error")
			}
			return
		}
		// A config that parses validates, and has a route to a defined
		// cluster for each route.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed but does not validate: %v", err)
		}
		for _, r := range cfg.Routes {
			if cfg.Clusters[r.Cluster] == nil {
				t.Fatalf("route to undefined cluster %q", r.Cluster)
			}
		}
	})
}

// The ConfigMap of deploy/kubernetes/base/proxy.yaml holds a valid config.
func TestKubernetesManifestConfig(t *testing.T) {
	data, err := os.ReadFile("../deploy/kubernetes/base/proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var cm struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Kind != "ConfigMap" {
			continue
		}
		if _, err := proxy.ParseConfig([]byte(cm.Data["proxy.yaml"])); err != nil {
			t.Fatalf("deploy/kubernetes/base/proxy.yaml: %v", err)
		}
		return
	}
	t.Fatal("deploy/kubernetes/base/proxy.yaml has no ConfigMap")
}
