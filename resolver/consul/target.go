package consul

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
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
		h, p, err := splitHostPort(u.Host, DefaultPort)
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
			t.passing, err = parseBool(key, v)
		case "stale":
			t.stale, err = parseBool(key, v)
		case "wait":
			t.opts.WaitTime, err = parseDuration(key, v)
		case "timeout":
			t.opts.Timeout, err = parseDuration(key, v)
		case "max_backoff":
			t.opts.MaxBackoff, err = parseDuration(key, v)
		case "empty":
			switch v {
			case "keep":
				t.opts.PublishEmpty = false
			case "publish":
				t.opts.PublishEmpty = true
			default:
				err = fmt.Errorf("option empty=%q is not keep or publish", v)
			}
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

func parseBool(key, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("option %s=%q is not true or false", key, v)
	}
	return b, nil
}

func parseDuration(key, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("option %s=%q is not a positive duration such as 5s", key, v)
	}
	return d, nil
}

// splitHostPort splits "host:port", "host" and "[v6]:port"; a missing port
// is defPort.
func splitHostPort(s, defPort string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("is empty")
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if err := checkPort(p); err != nil {
			return "", "", err
		}
		if h == "" {
			return "", "", errors.New("has a port but no host")
		}
		return h, p, checkHost(h)
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && ip.Is6() {
			return ip.String(), defPort, nil
		}
	}
	if strings.ContainsAny(s, ":[]") {
		return "", "", errors.New("is not host, host:port or [ipv6]:port")
	}
	return s, defPort, checkHost(s)
}

func checkPort(p string) error {
	if p == "" {
		return errors.New("ends with a colon but has no port")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '+' {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

func checkHost(h string) error {
	for _, c := range h {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == '/' || c == ',' || c == '@' || c == '?' || c == '#' || c == unicode.ReplacementChar {
			return fmt.Errorf("host %q has character %q", h, c)
		}
	}
	return nil
}
