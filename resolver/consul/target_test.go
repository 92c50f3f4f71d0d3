package consul

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/targetopt"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		target  string
		agent   string
		service string
		tags    []string
		check   func(target) bool
		wantErr string
	}{
		{target: "consul://127.0.0.1:8500/echo", agent: "127.0.0.1:8500", service: "echo"},
		{target: "consul://consul/echo", agent: "consul:8500", service: "echo"},
		{target: "consul://[::1]/echo", agent: "[::1]:8500", service: "echo"},
		{target: "consul://[::1]:18500/echo", agent: "[::1]:18500", service: "echo"},
		{target: "consul:///echo", service: "echo"},
		{target: "consul:///echo%2Dx", service: "echo-x"},
		{target: "consul://h:1/echo?tag=a&tag=b&tag=a", agent: "h:1", service: "echo", tags: []string{"a", "b", "a"}},
		{target: "consul://h:1/echo?dc=eu&near=_agent&passing=false&stale=true&wait=2s&timeout=1s&max_backoff=300ms&empty=publish",
			agent: "h:1", service: "echo", check: func(t target) bool {
				return t.dc == "eu" && t.near == "_agent" && !t.passing && t.stale && t.opts.WaitTime == 2*time.Second &&
					t.opts.Timeout == time.Second && t.opts.MaxBackoff == 300*time.Millisecond && t.opts.PublishEmpty
			}},
		{target: "consul://h:1/echo", agent: "h:1", service: "echo", check: func(t target) bool { return t.passing && !t.stale && t.dc == "" }},

		{target: "consul://h:1", wantErr: "no service name"},
		{target: "consul://h:1/", wantErr: "no service name"},
		{target: "consul://h:1/a/b", wantErr: "has a '/'"},
		{target: "consul://h:1/a%20b", wantErr: "character"},
		{target: "consul:echo", wantErr: `no "//" after the scheme`},
		{target: "consul://user:pw@h:1/echo", wantErr: "credentials"},
		{target: "consul://h:0/echo", wantErr: `port "0"`},
		{target: "consul://h:99999/echo", wantErr: `port "99999"`},
		{target: "consul://:1/echo", wantErr: "no host"},
		{target: "consul://h:1/echo?tag=", wantErr: "tag is empty"},
		{target: "consul://h:1/echo?tag=a%00", wantErr: "character"},
		{target: "consul://h:1/echo?dc=", wantErr: "dc is empty"},
		{target: "consul://h:1/echo?passing=maybe", wantErr: "not true or false"},
		{target: "consul://h:1/echo?wait=-1s", wantErr: "positive duration"},
		{target: "consul://h:1/echo?empty=x", wantErr: "keep or publish"},
		{target: "consul://h:1/echo?dc=a&dc=b", wantErr: "given 2 times"},
		{target: "consul://h:1/echo?bogus=1", wantErr: "unknown option"},
		{target: "consul://h:1/echo#frag", wantErr: "fragment"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			got, err := parseTarget(resolvertest.URL(t, tc.target), Options{})
			if !resolvertest.WantErr(t, err, tc.wantErr) {
				return
			}
			if got.agent != tc.agent || got.service != tc.service || !slices.Equal(got.tags, tc.tags) {
				t.Errorf("got agent %q service %q tags %q, want %q %q %q", got.agent, got.service, got.tags, tc.agent, tc.service, tc.tags)
			}
			if tc.check != nil && !tc.check(got) {
				t.Errorf("options not applied: %+v", got)
			}
		})
	}
}

func TestQueryOverridesBuilderOptions(t *testing.T) {
	got, err := parseTarget(resolvertest.URL(t, "consul://h:1/echo?empty=keep&wait=3s"), Options{PublishEmpty: true, WaitTime: time.Second, Timeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got.opts.PublishEmpty || got.opts.WaitTime != 3*time.Second || got.opts.Timeout != 7*time.Second {
		t.Errorf("options %+v", got.opts)
	}
	if _, err := (Options{WaitTime: 11 * time.Minute}).withDefaults(); err == nil {
		t.Error("a wait over Consul's 10m cap was accepted")
	}
}

// FuzzParseTarget: whatever the target, parsing never panics, and what it
// accepts is usable: a non-empty service name without '/', an agent address
// that is host:port, no empty tag.
func FuzzParseTarget(f *testing.F) {
	seeds := []string{
		"consul://127.0.0.1:8500/echo", "consul:///echo?tag=a&tag=b", "consul://[::1]/echo?dc=x&near=_agent",
		"consul://h:1/echo?passing=false&wait=1s", "consul:echo", "consul://h:1/a/b", "consul://h:0/x?tag=",
	}
	resolvertest.FuzzTarget(f, seeds, parseTarget, func(t *testing.T, s string, got target) {
		if got.service == "" || strings.Contains(got.service, "/") {
			t.Fatalf("%q: accepted service %q", s, got.service)
		}
		if got.agent != "" {
			if _, _, err := targetopt.SplitHostPort(got.agent, DefaultPort); err != nil {
				t.Fatalf("%q: accepted agent %q: %v", s, got.agent, err)
			}
		}
		if slices.Contains(got.tags, "") {
			t.Fatalf("%q: accepted an empty tag", s)
		}
	})
}
