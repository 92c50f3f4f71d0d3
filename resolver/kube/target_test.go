package kube

import (
	"strings"
	"testing"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		target    string
		namespace string
		service   string
		port      portSpec
		check     func(Options) bool
		wantErr   string
	}{
		{target: "kubernetes:///echo.prod:50051", namespace: "prod", service: "echo", port: portSpec{number: 50051}},
		{target: "kubernetes:///echo:grpc", service: "echo", port: portSpec{name: "grpc"}},
		{target: "kubernetes:///echo", service: "echo"},
		{target: "kubernetes://prod/echo:8080", namespace: "prod", service: "echo", port: portSpec{number: 8080}},
		{target: "kubernetes://prod/echo.prod:8080", namespace: "prod", service: "echo", port: portSpec{number: 8080}},
		{target: "kubernetes:///echo.prod.svc:grpc", namespace: "prod", service: "echo", port: portSpec{name: "grpc"}},
		{target: "kubernetes:///echo.prod.svc.cluster.local:grpc-web", namespace: "prod", service: "echo", port: portSpec{name: "grpc-web"}},
		{target: "kubernetes:///echo:1?terminating=serve&empty=keep&family=ipv6", service: "echo", port: portSpec{number: 1},
			check: func(o Options) bool {
				return o.Terminating == TerminatingServe && o.KeepLastOnEmpty && o.Family == FamilyIPv6
			}},
		{target: "kubernetes:///echo:1?terminating=drain&empty=publish&family=ipv4", service: "echo", port: portSpec{number: 1},
			check: func(o Options) bool {
				return o.Terminating == TerminatingDrain && !o.KeepLastOnEmpty && o.Family == FamilyIPv4 && !o.IncludeFQDN
			}},
		{target: "kubernetes:///echo:1?fqdn=include", service: "echo", port: portSpec{number: 1},
			check: func(o Options) bool { return o.IncludeFQDN }},
		{target: "kubernetes:///echo:1?fqdn=ignore", service: "echo", port: portSpec{number: 1},
			check: func(o Options) bool { return !o.IncludeFQDN }},

		{target: "kubernetes:echo:1", wantErr: `no "//" after the scheme`},
		{target: "kubernetes:///", wantErr: "no service"},
		{target: "kubernetes:///echo:", wantErr: "empty port"},
		{target: "kubernetes:///echo:0", wantErr: "port"},
		{target: "kubernetes:///echo:65536", wantErr: "port"},
		{target: "kubernetes:///echo:9x", wantErr: "port"},
		{target: "kubernetes:///echo:Bad_Name", wantErr: `port name "Bad_Name"`},
		{target: "kubernetes:///echo:this-name-is-too-long", wantErr: "port name"},
		{target: "kubernetes:///Echo:1", wantErr: `service name "Echo"`},
		{target: "kubernetes:///1echo:1", wantErr: `service name "1echo"`},
		{target: "kubernetes:///echo.Prod:1", wantErr: `namespace "Prod"`},
		{target: "kubernetes://Prod/echo:1", wantErr: `namespace "Prod" in the authority`},
		{target: "kubernetes://a/echo.b:1", wantErr: "namespace given twice"},
		{target: "kubernetes:///echo.prod.cluster:1", wantErr: "is not service, service.namespace"},
		{target: "kubernetes:///ns/echo:1", wantErr: "a service name has no '/'"},
		{target: "kubernetes://u@ns/echo:1", wantErr: "user information"},
		{target: "kubernetes:///echo:1#frag", wantErr: "fragment"},
		{target: "kubernetes:///echo:1?terminating=maybe", wantErr: "terminating=\"maybe\""},
		{target: "kubernetes:///echo:1?empty=drop", wantErr: "empty=\"drop\""},
		{target: "kubernetes:///echo:1?family=ipx", wantErr: "family=\"ipx\""},
		{target: "kubernetes:///echo:1?fqdn=yes", wantErr: "fqdn=\"yes\" is not include or ignore"},
		{target: "kubernetes:///echo:1?zone=a", wantErr: `unknown option "zone"`},
		{target: "kubernetes:///echo:1?family=ipv4&family=ipv6", wantErr: "given 2 times"},
		{target: "kubernetes:///echo:1?a=%zz", wantErr: "query"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			got, err := parseTarget(resolvertest.URL(t, tc.target), Options{})
			if !resolvertest.WantErr(t, err, tc.wantErr) {
				return
			}
			if got.namespace != tc.namespace || got.service != tc.service || got.port != tc.port {
				t.Errorf("got namespace %q service %q port %+v, want %q %q %+v", got.namespace, got.service, got.port, tc.namespace, tc.service, tc.port)
			}
			if tc.check != nil && !tc.check(got.opts) {
				t.Errorf("options %+v", got.opts)
			}
		})
	}
}

// FuzzParseTarget: any target is parsed or rejected with an error, never
// a panic, and what is accepted names a valid service.
func FuzzParseTarget(f *testing.F) {
	seeds := []string{
		"kubernetes:///echo.prod:50051", "kubernetes://prod/echo:grpc", "kubernetes:///echo",
		"kubernetes:///echo.prod.svc.cluster.local:1?terminating=serve", "kubernetes:///a:b:c", "kubernetes://[::1]/x",
	}
	resolvertest.FuzzTarget(f, seeds, parseTarget, func(t *testing.T, s string, got target) {
		if got.service == "" || strings.ContainsAny(got.service, "./:") {
			t.Fatalf("%q: accepted service %q", s, got.service)
		}
		if got.port.number < 0 || got.port.number > 65535 {
			t.Fatalf("%q: port %d", s, got.port.number)
		}
	})
}
