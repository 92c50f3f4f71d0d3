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
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("query %q: %w", raw, err)
	}
	for key, vals := range q {
		if key == "tag" {
			for _, v := range vals {
				if v == "" {
					return errors.New("option tag is empty")
				}
				if err := checkName("tag", v); err != nil {
					return err
				}
				t.tags = append(t.tags, v)
			}
			continue
		}
		if len(vals) != 1 {
			return fmt.Errorf("option %q given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "dc":
			t.dc, err = nonEmpty(key, v)
		case "near":
			t.near, err = nonEmpty(key, v)
		case "passing":
			t.passing, err = targetopt.Bool(key, v)
		case "stale":
			t.stale, err = targetopt.Bool(key, v)
		case "wait":
			t.opts.WaitTime, err = targetopt.Duration(key, v)
		case "timeout":
			t.opts.Timeout, err = targetopt.Duration(key, v)
		case "max_backoff":
			t.opts.MaxBackoff, err = targetopt.Duration(key, v)
		case "empty":
			t.opts.PublishEmpty, err = targetopt.PublishEmpty(v)
		default:
			err = fmt.Errorf("unknown option %q (known: tag, dc, near, passing, stale, wait, timeout, max_backoff, empty)", key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func nonEmpty(key, v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("option %s is empty", key)
	}
	return v, checkName("option "+key, v)
}
