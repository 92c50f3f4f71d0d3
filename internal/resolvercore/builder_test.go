package resolvercore

import (
	"errors"
	"net/url"
	"testing"

	"google.golang.org/grpc/resolver"
)

type nopResolver struct{}

func (nopResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (nopResolver) Close()                                {}

// host is a parsed target whose defaults fail for the host "nodefaults".
type host string

func (h host) WithDefaults() (host, error) {
	if h == "nodefaults" {
		return h, errors.New("bad options")
	}
	return h, nil
}

func TestBuilderNamesSchemeAndTarget(t *testing.T) {
	parse := func(u url.URL) (host, error) {
		if u.Host == "bad" {
			return "", errors.New("bad host")
		}
		return host(u.Host), nil
	}
	start := func(host host, _ resolver.ClientConn, _ string) (resolver.Resolver, error) {
		if host == "down" {
			return nil, errors.New("cannot start")
		}
		return nopResolver{}, nil
	}
	b := NewBuilder("demo", parse, start)
	if b.Scheme() != "demo" {
		t.Fatalf("scheme %q", b.Scheme())
	}
	tests := []struct{ target, wantErr string }{
		{"demo://good/x", ""},
		{"demo://bad/x", `demo: target "demo://bad/x": bad host`},
		{"demo://nodefaults/x", `demo: target "demo://nodefaults/x": bad options`},
		{"demo://down/x", `demo: target "demo://down/x": cannot start`},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.target)
		_, err := b.Build(resolver.Target{URL: *u}, &callLog{}, resolver.BuildOptions{})
		if got := errString(err); got != tt.wantErr {
			t.Errorf("%s: error %q, want %q", tt.target, got, tt.wantErr)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
