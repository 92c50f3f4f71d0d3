package consul

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"github.com/grpclb/grpclb/internal/targetopt"
)

// target is a parsed consul target.
type target struct {
	// agent is the HTTP address of the agent, host:port; "" means the
	// address of Options.Config (or CONSUL_HTTP_ADDR).
	agent   string
	service string
	tags    []string
	dc      string
	near    string
	passing bool
	stale   bool
	opts    Options
}

// WithDefaults returns t with its options' defaults filled in and the rest
// checked (resolvercore.Target).
func (t target) WithDefaults() (_ target, err error) {
	t.opts, err = t.opts.withDefaults()
	return t, err
}

// parseTarget reads a target URL. defaults are the builder's options, which
// query parameters override. It does no I/O, so it can be fuzzed.
func parseTarget(u url.URL, defaults Options) (target, error) {
	t := target{opts: defaults, passing: true}
	if u.Opaque != "" {
		return t, fmt.Errorf("%q has no \"//\" after the scheme; write consul:///%s or consul://host:port/%s", u.String(), u.Opaque, u.Opaque)
	}
	if u.User != nil {
		return t, errors.New("credentials in the target are not supported (they would be logged); set Options.Token or CONSUL_HTTP_TOKEN")
	}
	if u.Fragment != "" {
		return t, fmt.Errorf("target has a fragment %q", u.Fragment)
	}
	svc, err := parseService(u.Path)
	if err != nil {
		return t, err
	}
	t.service = svc
	if u.Host != "" {
		h, p, err := targetopt.SplitHostPort(u.Host, DefaultPort)
		if err != nil {
			return t, fmt.Errorf("agent address %q: %w", u.Host, err)
		}
		t.agent = net.JoinHostPort(h, p)
	}
	if err := t.applyQuery(u.RawQuery); err != nil {
		return t, err
	}
	return t, nil
}

// parseService takes the URL path: one segment, the service name.
func parseService(path string) (string, error) {
	s := strings.TrimPrefix(path, "/")
	switch {
	case s == "":
		return "", errors.New("no service name in the target; write consul://host:port/service")
	case strings.Contains(s, "/"):
		return "", fmt.Errorf("service name %q has a '/'; the path is one service name", s)
	}
	if err := checkName("service name", s); err != nil {
		return "", err
	}
	return s, nil
}

func checkName(what, s string) error {
	for _, c := range s {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return fmt.Errorf("%s %q has character %q", what, s, c)
		}
	}
	return nil
}

func (t *target) applyQuery(raw string) error {
	o := &t.opts
	text := func(name string, p *string) targetopt.Option {
		return targetopt.Option{Name: name, Set: func(v string) (err error) {
			*p, err = nonEmpty(name, v)
			return err
		}}
	}
	return targetopt.Query(raw,
		targetopt.Option{Name: "tag", Repeat: true, Set: func(v string) error {
			if v == "" {
				return errors.New("option tag is empty")
			}
			t.tags = append(t.tags, v)
			return checkName("tag", v)
		}},
		text("dc", &t.dc),
		text("near", &t.near),
		targetopt.BoolOption("passing", &t.passing),
		targetopt.BoolOption("stale", &t.stale),
		targetopt.DurationOption("wait", &o.WaitTime),
		targetopt.DurationOption("timeout", &o.Timeout),
		targetopt.DurationOption("max_backoff", &o.MaxBackoff),
		targetopt.EmptyOption(&o.PublishEmpty),
	)
}

func nonEmpty(key, v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("option %s is empty", key)
	}
	return v, checkName("option "+key, v)
}
