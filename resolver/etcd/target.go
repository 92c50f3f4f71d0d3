package etcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"github.com/grpclb/grpclb/internal/targetopt"
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

// WithDefaults returns t with its options' defaults filled in and the rest
// checked (resolvercore.Target).
func (t target) WithDefaults() (_ target, err error) {
	t.opts, err = t.opts.withDefaults()
	return t, err
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
			h, p, err := targetopt.SplitHostPort(ep, DefaultPort)
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
	o := &t.opts
	return targetopt.Query(raw,
		targetopt.DurationOption("dial_timeout", &o.DialTimeout),
		targetopt.DurationOption("timeout", &o.Timeout),
		targetopt.DurationOption("max_backoff", &o.MaxBackoff),
		targetopt.EmptyOption(&o.PublishEmpty),
	)
}

// checkEndpoint accepts what etcd's client accepts as an endpoint:
// host:port, or a URL such as http://host:port or unix://path.
func checkEndpoint(ep string) error {
	if ep == "" || strings.ContainsFunc(ep, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		return fmt.Errorf("endpoint %q is empty or has spaces", ep)
	}
	return nil
}
