package dnspoll

import (
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		target  string
		host    string
		port    string
		server  string
		check   func(Options) bool
		wantErr string
	}{
		{target: "dnspoll:///svc.test:50051", host: "svc.test", port: "50051"},
		{target: "dnspoll:///svc.test", host: "svc.test", port: "443"},
		{target: "dnspoll://127.0.0.1:5353/svc.test.:80", host: "svc.test.", port: "80", server: "127.0.0.1:5353"},
		{target: "dnspoll://10.0.0.10/svc.test:80", host: "svc.test", port: "80", server: "10.0.0.10:53"},
		{target: "dnspoll://[::1]:5353/svc.test:80", host: "svc.test", port: "80", server: "[::1]:5353"},
		{target: "dnspoll:///[::1]:80", host: "::1", port: "80"},
		{target: "dnspoll:///10.1.2.3", host: "10.1.2.3", port: "443"},
		{target: "dnspoll:///svc.test:80?interval=2s&jitter=0.5&min_interval=100ms&timeout=1s",
			host: "svc.test", port: "80", check: func(o Options) bool {
				return o.Interval == 2*time.Second && o.Jitter == 0.5 && o.MinInterval == 100*time.Millisecond && o.Timeout == time.Second
			}},
		{target: "dnspoll:///svc.test:80?jitter=0", host: "svc.test", port: "80", check: func(o Options) bool { return o.Jitter == 0 && o.NoJitter }},
		{target: "dnspoll:///svc.test:80?empty=publish", host: "svc.test", port: "80", check: func(o Options) bool { return o.PublishEmpty }},
		{target: "dnspoll:///_grpc._tcp.svc.test?srv=true", host: "_grpc._tcp.svc.test", check: func(o Options) bool { return o.SRV }},

		{target: "dnspoll:///", wantErr: "no host name"},
		{target: "dnspoll:", wantErr: "no host name"},
		{target: "dnspoll:svc.test:80", wantErr: `no "//" after the scheme`},
		{target: "dnspoll:///svc.test:", wantErr: "no port"},
		{target: "dnspoll:///svc.test:99999", wantErr: `port "99999" is not a number from 1 to 65535`},
		{target: "dnspoll:///svc.test:http", wantErr: `port "http"`},
		{target: "dnspoll:///:80", wantErr: "no host"},
		{target: "dnspoll:///svc..test:80", wantErr: "not a valid DNS name"},
		{target: "dnspoll:///svc test:80", wantErr: "not a valid DNS name"},
		{target: "dnspoll://dns.example/svc.test:80", wantErr: `"dns.example" is not an IP address`},
		{target: "dnspoll://127.0.0.1:0/svc.test:80", wantErr: "DNS server"},
		{target: "dnspoll:///svc.test:80?interval=fast", wantErr: `interval="fast" is not a positive duration`},
		{target: "dnspoll:///svc.test:80?interval=-1s", wantErr: "not a positive duration"},
		{target: "dnspoll:///svc.test:80?jitter=2", wantErr: "jitter 2 is not between 0 and 1"},
		{target: "dnspoll:///svc.test:80?jitter=x", wantErr: `jitter="x" is not a number`},
		{target: "dnspoll:///svc.test:80?jitter=NaN", wantErr: "jitter NaN is not between 0 and 1"},
		{target: "dnspoll:///svc.test:80?jitter=Inf", wantErr: "jitter +Inf is not between 0 and 1"},
		{target: "dnspoll:///svc.test:80?min_interval=1ms", wantErr: "below the floor"},
		{target: "dnspoll:///svc.test:80?interval=100ms&min_interval=1s", wantErr: "interval 100ms is below min_interval 1s"},
		{target: "dnspoll:///svc.test:80?srv=maybe", wantErr: `srv="maybe"`},
		{target: "dnspoll:///_grpc._tcp.svc.test:80?srv=1", wantErr: "must not have a port"},
		{target: "dnspoll:///svc.test:80?empty=drop", wantErr: `empty="drop" is not keep or publish`},
		{target: "dnspoll:///svc.test:80?intervall=1s", wantErr: `unknown option "intervall"`},
		{target: "dnspoll:///svc.test:80?interval=1s&interval=2s", wantErr: "given 2 times"},
		{target: "dnspoll:///svc.test:80?%zz", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := parseTarget(resolvertest.URL(t, tt.target), Options{})
			if err == nil {
				got.opts, err = got.opts.withDefaults()
			}
			if !resolvertest.WantErr(t, err, tt.wantErr) {
				return
			}
			if got.host != tt.host || got.port != tt.port || got.dnsServer != tt.server {
				t.Errorf("got host %q port %q server %q", got.host, got.port, got.dnsServer)
			}
			if tt.check != nil && !tt.check(got.opts) {
				t.Errorf("options %+v", got.opts)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.Interval != DefaultInterval || o.Jitter != DefaultJitter || o.MinInterval != DefaultMinInterval ||
		o.Timeout != DefaultTimeout || o.SRV || o.PublishEmpty || o.Logger == nil {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestNextWaitStaysWithinJitterAndFloor(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		haveGood bool
		failures int
		lo, hi   time.Duration
	}{
		{"jittered interval", Options{Interval: time.Second, Jitter: 0.2, MinInterval: 10 * time.Millisecond}, true, 0, 800 * time.Millisecond, 1200 * time.Millisecond},
		{"no jitter", Options{Interval: time.Second, NoJitter: true, MinInterval: 10 * time.Millisecond}, true, 0, time.Second, time.Second},
		{"floor wins", Options{Interval: 100 * time.Millisecond, Jitter: 1, MinInterval: 100 * time.Millisecond}, true, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{"backoff before a good set", Options{Interval: 10 * time.Second, NoJitter: true, MinInterval: 100 * time.Millisecond}, false, 3, 400 * time.Millisecond, 400 * time.Millisecond},
		{"backoff capped by interval", Options{Interval: time.Second, NoJitter: true, MinInterval: 100 * time.Millisecond}, false, 30, time.Second, time.Second},
		{"failures with a good set wait the interval", Options{Interval: time.Second, NoJitter: true, MinInterval: 100 * time.Millisecond}, true, 5, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.opts.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			for range 1000 {
				if d := nextWait(o, tt.haveGood, tt.failures); d < tt.lo || d > tt.hi {
					t.Fatalf("wait %v outside [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	seeds := []string{
		"dnspoll:///svc.test:50051", "dnspoll://127.0.0.1:53/svc.test.:80?interval=1s",
		"dnspoll:///_grpc._tcp.svc?srv=true", "dnspoll:///[::1]:80", "dnspoll:///a:b:c",
		"dnspoll://[fe80::1%25eth0]:53/x:1?jitter=0.1&empty=publish",
	}
	resolvertest.FuzzTarget(f, seeds, parseTarget, func(t *testing.T, s string, pt target) {
		if pt.host == "" {
			t.Fatalf("%q parsed with no host", s)
		}
		if !pt.opts.SRV && pt.port == "" {
			t.Fatalf("%q parsed with no port", s)
		}
		_, _ = pt.opts.withDefaults()
	})
}
