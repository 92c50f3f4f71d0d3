package etcd

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func TestParseTarget(t *testing.T) {
	shared := &clientv3.Client{}
	tests := []struct {
		target    string
		defaults  Options
		env       string
		endpoints []string
		shared    bool
		prefix    string
		check     func(Options) bool
		wantErr   string
	}{
		{target: "etcd://127.0.0.1:2379/svc", endpoints: []string{"127.0.0.1:2379"}, prefix: "svc"},
		{target: "etcd://127.0.0.1:2379,127.0.0.2:22379/service/echo", endpoints: []string{"127.0.0.1:2379", "127.0.0.2:22379"}, prefix: "service/echo"},
		{target: "etcd://etcd-1,etcd-2:2380/svc", endpoints: []string{"etcd-1:2379", "etcd-2:2380"}, prefix: "svc"},
		{target: "etcd://[::1]:2379/svc", endpoints: []string{"[::1]:2379"}, prefix: "svc"},
		{target: "etcd://[::1]/svc", endpoints: []string{"[::1]:2379"}, prefix: "svc"},
		{target: "etcd://h:1//abs/svc", endpoints: []string{"h:1"}, prefix: "/abs/svc"},
		{target: "etcd://h:1/svc%2Fx", endpoints: []string{"h:1"}, prefix: "svc/x"},
		{target: "etcd:///svc", env: " 10.0.0.1:2379 , https://e2:2379,", endpoints: []string{"10.0.0.1:2379", "https://e2:2379"}, prefix: "svc"},
		{target: "etcd:///svc", defaults: Options{Endpoints: []string{"http://e:2379"}}, env: "ignored:1", endpoints: []string{"http://e:2379"}, prefix: "svc"},
		{target: "etcd:///svc", defaults: Options{Client: shared}, env: "ignored:1", shared: true, prefix: "svc"},
		{target: "etcd://h:1/svc", defaults: Options{Client: shared}, endpoints: []string{"h:1"}, prefix: "svc"},
		{target: "etcd://h:1/svc?dial_timeout=2s&timeout=300ms&max_backoff=1s&empty=publish", endpoints: []string{"h:1"}, prefix: "svc",
			check: func(o Options) bool {
				return o.DialTimeout == 2*time.Second && o.Timeout == 300*time.Millisecond && o.MaxBackoff == time.Second && o.PublishEmpty
			}},
		{target: "etcd://h:1/svc?empty=keep", defaults: Options{PublishEmpty: true}, endpoints: []string{"h:1"}, prefix: "svc",
			check: func(o Options) bool { return !o.PublishEmpty }},
		{target: "etcd://h:1/svc", defaults: Options{Timeout: time.Second}, endpoints: []string{"h:1"}, prefix: "svc",
			check: func(o Options) bool { return o.Timeout == time.Second && o.DialTimeout == DefaultDialTimeout }},

		{target: "etcd:///svc", wantErr: "no etcd endpoints"},
		{target: "etcd:///svc", env: " , ", wantErr: "no etcd endpoints"},
		{target: "etcd://h:1", wantErr: "no key prefix"},
		{target: "etcd://h:1/", wantErr: "no key prefix"},
		{target: "etcd://h:1/svc/", wantErr: "ends with '/'"},
		{target: "etcd://h:1/a//b", wantErr: "empty path segment"},
		{target: "etcd://h:1///a", wantErr: "empty path segment"},
		{target: "etcd://h:1/a%00b", wantErr: "control"},
		{target: "etcd:svc", wantErr: `no "//" after the scheme`},
		{target: "etcd://user:pw@h:1/svc", wantErr: "credentials in the target"},
		{target: "etcd://h:0/svc", wantErr: `port "0"`},
		{target: "etcd://h:99999/svc", wantErr: `port "99999"`},
		{target: "etcd://h:1,,h:2/svc", wantErr: "is empty"},
		{target: "etcd://h:1,:2/svc", wantErr: "no host"},
		{target: "etcd:///svc", env: "a b:1", wantErr: "ETCD_ENDPOINTS"},
		{target: "etcd:///svc", defaults: Options{Endpoints: []string{""}}, wantErr: "Options.Endpoints"},
		{target: "etcd://h:1/svc?dial_timeout=soon", wantErr: `dial_timeout="soon" is not a positive duration`},
		{target: "etcd://h:1/svc?timeout=-1s", wantErr: "not a positive duration"},
		{target: "etcd://h:1/svc?max_backoff=1ms", wantErr: "max_backoff 1ms is below the floor"},
		{target: "etcd://h:1/svc?empty=drop", wantErr: `empty="drop" is not keep or publish`},
		{target: "etcd://h:1/svc?dial_timeot=1s", wantErr: `unknown option "dial_timeot"`},
		{target: "etcd://h:1/svc?timeout=1s&timeout=2s", wantErr: "given 2 times"},
		{target: "etcd://h:1/svc?%zz", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.target+"|"+tt.env, func(t *testing.T) {
			got, err := parseTarget(resolvertest.URL(t, tt.target), tt.defaults, tt.env)
			if err == nil {
				got.opts, err = got.opts.withDefaults()
			}
			if !resolvertest.WantErr(t, err, tt.wantErr) {
				return
			}
			if !slices.Equal(got.endpoints, tt.endpoints) || got.prefix != tt.prefix || (got.endpoints == nil) != tt.shared {
				t.Errorf("got endpoints %q prefix %q, want %q %q (shared client %v)", got.endpoints, got.prefix, tt.endpoints, tt.prefix, tt.shared)
			}
			if tt.check != nil && !tt.check(got.opts) {
				t.Errorf("options %+v", got.opts)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.DialTimeout != DefaultDialTimeout || o.Timeout != DefaultTimeout || o.MaxBackoff != DefaultMaxBackoff ||
		o.PublishEmpty || o.Logger == nil || o.Client != nil || o.Endpoints != nil {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"etcd://127.0.0.1:2379/svc", "etcd://a:1,b:2/service/echo?timeout=1s&empty=publish",
		"etcd:///svc", "etcd://[::1]:2379//abs/svc", "etcd://h/svc/", "etcd:svc", "etcd://u@h/x",
		"etcd://h:1/a%2F%00b?dial_timeout=1s&max_backoff=2s",
	} {
		f.Add(s, "10.0.0.1:2379")
	}
	f.Fuzz(func(t *testing.T, s, env string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		pt, err := parseTarget(*u, Options{}, env)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if pt.prefix == "" || strings.HasSuffix(pt.prefix, "/") || strings.Contains(pt.prefix, "//") {
			t.Fatalf("%q parsed with prefix %q", s, pt.prefix)
		}
		if len(pt.endpoints) == 0 {
			t.Fatalf("%q (env %q) parsed with no endpoints", s, env)
		}
		for _, ep := range pt.endpoints {
			if ep == "" || strings.ContainsAny(ep, " ,\t\n") {
				t.Fatalf("%q (env %q) parsed with endpoint %q", s, env, ep)
			}
		}
		_, _ = pt.opts.withDefaults()
	})
}
