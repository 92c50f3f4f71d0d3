package resolvercore

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/resolver"
)

// checkTarget is a target whose defaults step fails for port 0.
type checkTarget struct{ port string }

func (t checkTarget) WithDefaults() (checkTarget, error) {
	if t.port == "0" {
		return t, errors.New("port 0")
	}
	return t, nil
}

// CheckTarget runs Build's parse and defaults steps with Build's error
// wording, and starts nothing.
func TestCheckTarget(t *testing.T) {
	started := false
	b := NewBuilder("chk", func(u url.URL) (checkTarget, error) {
		_, port, ok := strings.Cut(u.Path, ":")
		if !ok {
			return checkTarget{}, errors.New("no port")
		}
		return checkTarget{port: port}, nil
	}, func(checkTarget, resolver.ClientConn, string) (resolver.Resolver, error) {
		started = true
		return nil, nil
	})
	c, ok := b.(TargetChecker)
	if !ok {
		t.Fatal("NewBuilder's builder is not a TargetChecker")
	}
	for target, want := range map[string]string{
		"chk:///host:80": "",
		"chk:///host":    `chk: target "chk:///host": no port`,
		"chk:///host:0":  `chk: target "chk:///host:0": port 0`,
	} {
		u, _ := url.Parse(target)
		err := c.CheckTarget(resolver.Target{URL: *u})
		if got := errString(err); got != want {
			t.Errorf("CheckTarget(%s) = %q, want %q", target, got, want)
		}
	}
	if started {
		t.Error("CheckTarget started a resolver")
	}
}
