package etcd

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

// target is a parsed etcd target.
type target struct {
	// endpoints of the etcd cluster; nil when the builder's shared client
	// is used.
	endpoints []string
	// prefix is the service's key prefix without the trailing '/': keys
	// are prefix + "/" + anything.
	prefix string
	opts   Options
}

// keyPrefix is what the resolver reads and watches.
func (t target) keyPrefix() string { return t.prefix + "/" }

// parseTarget reads a target URL. defaults are the builder's options, which
// query parameters override; env is the value of ETCD_ENDPOINTS. It does no
// I/O, so it can be fuzzed.
func parseTarget(u url.URL, defaults Options, env string) (target, error) {
	t := target{opts: defaults}
	if u.Opaque != "" {
		return t, fmt.Errorf("%q has no \"//\" after the scheme; write etcd:///%s or etcd://host:port/%s", u.String(), u.Opaque, u.Opaque)
	}
	if u.User != nil {
		return t, errors.New("credentials in the target are not supported (they would be logged); set Options.ClientConfig.Username and Password")
	}
	if err := t.applyQuery(u.RawQuery); err != nil {
		return t, err
	}
	prefix, err := parsePrefix(u.Path)
	if err != nil {
		return t, err
	}
	t.prefix = prefix
	switch {
	case u.Host != "":
		for ep := range strings.SplitSeq(u.Host, ",") {
			h, p, err := splitHostPort(ep, DefaultPort)
			if err != nil {
				return t, fmt.Errorf("etcd endpoint %q: %w", ep, err)
			}
			t.endpoints = append(t.endpoints, net.JoinHostPort(h, p))
		}
	case defaults.Client != nil:
		// The shared client.
	case len(defaults.Endpoints) > 0:
		for _, ep := range defaults.Endpoints {
			if err := checkEndpoint(ep); err != nil {
				return t, fmt.Errorf("Options.Endpoints: %w", err)
			}
			t.endpoints = append(t.endpoints, ep)
		}
	default:
		for ep := range strings.SplitSeq(env, ",") {
			if ep = strings.TrimSpace(ep); ep == "" {
				continue
			}
			if err := checkEndpoint(ep); err != nil {
				return t, fmt.Errorf("%s: %w", EnvEndpoints, err)
			}
			t.endpoints = append(t.endpoints, ep)
		}
		if len(t.endpoints) == 0 {
			return t, fmt.Errorf("no etcd endpoints: put them in the target (etcd://host:port,host:port/%s), in Options.Endpoints or in %s", t.prefix, EnvEndpoints)
		}
	}
	return t, nil
}

// parsePrefix takes the URL path, drops its leading '/' (as etcd's own
// resolver does, so etcd:///svc and etcd://host//abs/svc mean the keys
// "svc/..." and "/abs/svc/...") and checks the rest.
func parsePrefix(path string) (string, error) {
	p := strings.TrimPrefix(path, "/")
	switch {
	case p == "":
		return "", errors.New("no key prefix in the target; write etcd://host:port/service/name")
	case strings.HasSuffix(p, "/"):
		return "", fmt.Errorf("key prefix %q ends with '/'; the resolver adds it (keys are %q)", p, strings.TrimRight(p, "/")+"/<addr>")
	case strings.Contains(p, "//"):
		return "", fmt.Errorf("key prefix %q has an empty path segment", p)
	}
	for _, c := range p {
		if unicode.IsControl(c) || c == unicode.ReplacementChar {
			return "", fmt.Errorf("key prefix %q has control or invalid character %q", p, c)
		}
	}
	return p, nil
}

func (t *target) applyQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("query %q: %w", raw, err)
	}
	for key, vals := range q {
		if len(vals) != 1 {
			return fmt.Errorf("option %q given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "dial_timeout":
			t.opts.DialTimeout, err = parseDuration(key, v)
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
			err = fmt.Errorf("unknown option %q (known: dial_timeout, timeout, max_backoff, empty)", key)
		}
		if err != nil {
			return err
		}
	}
	return nil
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
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == '/' || c == ',' || c == unicode.ReplacementChar {
			return fmt.Errorf("host %q has character %q", h, c)
		}
	}
	return nil
}

// checkEndpoint accepts what etcd's client accepts as an endpoint:
// host:port, or a URL such as http://host:port or unix://path.
func checkEndpoint(ep string) error {
	if ep == "" || strings.ContainsFunc(ep, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		return fmt.Errorf("endpoint %q is empty or has spaces", ep)
	}
	return nil
}
