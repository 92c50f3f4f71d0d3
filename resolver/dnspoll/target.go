package dnspoll

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/grpclb/grpclb/internal/targetopt"
)

const (
	defaultPort    = "443"
	defaultDNSPort = "53"
)

// target is a parsed dnspoll target.
type target struct {
	host      string // name to look up (or an IP literal)
	port      string // port for A/AAAA answers; empty with SRV
	dnsServer string // host:port of the DNS server; empty for the system's
	opts      Options
}

// WithDefaults returns t with its options' defaults filled in and the rest
// checked (resolvercore.Target).
func (t target) WithDefaults() (_ target, err error) {
	t.opts, err = t.opts.withDefaults()
	return t, err
}

// parseTarget reads a target URL; defaults are the builder's options, which
// query parameters override.
func parseTarget(u url.URL, defaults Options) (target, error) {
	t := target{opts: defaults}
	if u.Host != "" {
		h, p, err := splitHostPort(u.Host, defaultDNSPort)
		if err != nil {
			return t, fmt.Errorf("DNS server %q: %w", u.Host, err)
		}
		if _, err := netip.ParseAddr(h); err != nil {
			return t, fmt.Errorf("DNS server %q: %q is not an IP address", u.Host, h)
		}
		t.dnsServer = net.JoinHostPort(h, p)
	}
	if u.Opaque != "" {
		return t, fmt.Errorf("%q has no \"//\" after the scheme; write dnspoll:///%s", u.String(), u.Opaque)
	}
	if err := t.applyQuery(u.RawQuery); err != nil {
		return t, err
	}
	endpoint := strings.TrimPrefix(u.Path, "/")
	if endpoint == "" {
		return t, errors.New("no host name in the target")
	}
	if t.opts.SRV {
		if strings.ContainsAny(endpoint, ":[]") {
			return t, fmt.Errorf("SRV name %q must not have a port: the records give the ports", endpoint)
		}
		t.host = endpoint
		return t, validName(t.host)
	}
	h, p, err := splitHostPort(endpoint, defaultPort)
	if err != nil {
		return t, fmt.Errorf("%q: %w", endpoint, err)
	}
	t.host, t.port = h, p
	if _, err := netip.ParseAddr(h); err == nil {
		return t, nil
	}
	return t, validName(h)
}

func (t *target) applyQuery(raw string) error {
	o := &t.opts
	return targetopt.Query(raw,
		targetopt.DurationOption("interval", &o.Interval),
		targetopt.Option{Name: "jitter", Set: func(v string) (err error) {
			o.Jitter, err = strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("option jitter=%q is not a number", v)
			}
			o.NoJitter = o.Jitter == 0
			return nil
		}},
		targetopt.DurationOption("min_interval", &o.MinInterval),
		targetopt.DurationOption("timeout", &o.Timeout),
		targetopt.BoolOption("srv", &o.SRV),
		targetopt.EmptyOption(&o.PublishEmpty),
	)
}

// splitHostPort splits "host:port", "host", "[v6]:port" and "v6" literals.
func splitHostPort(s, defPort string) (host, port string, err error) {
	if _, err := netip.ParseAddr(s); err == nil {
		return s, defPort, nil
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if p == "" {
			return "", "", errors.New("ends with a colon but has no port")
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		if h == "" {
			return "", "", errors.New("has a port but no host")
		}
		return h, p, nil
	}
	if strings.ContainsAny(s, ":[]") {
		return "", "", errors.New("is not host, host:port or [ipv6]:port")
	}
	return s, defPort, nil
}

// validName accepts DNS names: dot-separated labels of letters, digits,
// '-' and '_' (for SRV), each 1-63 bytes, 253 in all, optional final dot.
func validName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("%q is not a valid DNS name", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a valid DNS name (empty or long label)", name)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a valid DNS name (character %q)", name, c)
			}
		}
	}
	return nil
}
