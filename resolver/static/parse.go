package static

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/resolver"
)

// config is what a target asks for: either a fixed list of addresses, or a
// file to watch.
type config struct {
	// addrs is the fixed list (canonical, without duplicates); nil for a file
	// target.
	addrs []string
	// file is the path of the watched file; "" for a fixed list.
	file string
	// interval is the polling interval given in the target; 0 means the
	// builder's default.
	interval time.Duration
}

// Query parameters understood in a target.
const (
	paramFile     = "file"
	paramInterval = "interval"
)

// parseTarget parses a "static" target. It does no I/O.
func parseTarget(t resolver.Target) (config, error) {
	u := t.URL
	if u.Host != "" {
		return config{}, fmt.Errorf("static: target %q has an authority (%q), which is not supported; use three slashes, e.g. static:///%s", targetString(t), u.Host, u.Host)
	}
	if u.Fragment != "" {
		return config{}, fmt.Errorf("static: target %q has a fragment (%q); escape '#' as %%23 if it belongs to the target", targetString(t), u.Fragment)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return config{}, fmt.Errorf("static: target %q: bad query: %v", targetString(t), err)
	}
	for _, k := range slices.Sorted(maps.Keys(query)) {
		switch k {
		case paramFile, paramInterval:
			if n := len(query[k]); n > 1 {
				return config{}, fmt.Errorf("static: target %q: query parameter %q is given %d times", targetString(t), k, n)
			}
		default:
			return config{}, fmt.Errorf("static: target %q: unknown query parameter %q (known: %s, %s)", targetString(t), k, paramFile, paramInterval)
		}
	}

	endpoint := t.Endpoint()
	file, hasFile := query[paramFile]
	interval, hasInterval := query[paramInterval]

	if !hasFile {
		if hasInterval {
			return config{}, fmt.Errorf("static: target %q: query parameter %q needs %q", targetString(t), paramInterval, paramFile)
		}
		addrs, err := parseEndpoint(endpoint)
		if err != nil {
			return config{}, fmt.Errorf("static: target %q: %w", targetString(t), err)
		}
		return config{addrs: addrs}, nil
	}

	cfg := config{file: file[0]}
	if endpoint != "" {
		return config{}, fmt.Errorf("static: target %q has both addresses (%q) and a file; use one or the other", targetString(t), endpoint)
	}
	if cfg.file == "" {
		return config{}, fmt.Errorf("static: target %q: query parameter %q is empty", targetString(t), paramFile)
	}
	if hasInterval {
		d, err := time.ParseDuration(interval[0])
		if err != nil {
			return config{}, fmt.Errorf("static: target %q: bad interval %q: want a duration such as 500ms or 2s", targetString(t), interval[0])
		}
		if d < MinInterval {
			return config{}, fmt.Errorf("static: target %q: interval %v is below the minimum of %v", targetString(t), d, MinInterval)
		}
		cfg.interval = d
	}
	return cfg, nil
}

// parseEndpoint parses the comma-separated address list of a target.
func parseEndpoint(endpoint string) ([]string, error) {
	d := newDedup()
	if err := d.addList(endpoint); err != nil {
		return nil, err
	}
	if len(d.addrs) == 0 {
		return nil, errors.New("no addresses; want static:///host:port[,host:port...] or static:///?file=PATH")
	}
	return d.addrs, nil
}

// parseList parses the content of a backends file: one or more
// comma-separated addresses per line, '#' starts a comment, blank lines are
// ignored. source names the text in error messages (the file's path). The
// result is canonical and free of duplicates; it is empty, and the error nil,
// for text without addresses. It does no I/O.
func parseList(text, source string) ([]string, error) {
	text = strings.TrimPrefix(text, "\uFEFF") // a UTF-8 byte order mark
	d := newDedup()
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		if err := d.addList(line); err != nil {
			return nil, fmt.Errorf("static: line %d of %s: %w", i+1, source, err)
		}
	}
	return d.addrs, nil
}

// canonicalAddr validates a host:port address and returns it in canonical
// form: IP addresses as formatted by net/netip, host names as given, the port
// in decimal without leading zeros.
func canonicalAddr(s string) (string, error) {
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", fmt.Errorf("%q contains white space; separate addresses with commas or new lines", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			switch ae.Err {
			case "missing port in address":
				return "", fmt.Errorf("%q has no port", s)
			case "too many colons in address":
				return "", fmt.Errorf("%q is not host:port; put IPv6 addresses in brackets, e.g. [::1]:50051", s)
			}
			return "", fmt.Errorf("%q is not host:port: %s", s, ae.Err)
		}
		return "", fmt.Errorf("%q is not host:port: %v", s, err)
	}

	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	if port == "" {
		return "", fmt.Errorf("%q has an empty port", s)
	}
	if strings.Trim(port, "0123456789") != "" {
		return "", fmt.Errorf("%q has a non-numeric port %q", s, port)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q has port %s, out of the range 1-65535", s, port)
	}

	bracketed := strings.HasPrefix(s, "[")
	if ip, err := netip.ParseAddr(host); err == nil {
		if bracketed != ip.Is6() {
			if bracketed {
				return "", fmt.Errorf("%q has brackets around %q, which is not an IPv6 address", s, host)
			}
			// Not reachable: net.SplitHostPort wants brackets around a
			// host with colons.
			return "", fmt.Errorf("%q is not host:port; put IPv6 addresses in brackets, e.g. [::1]:50051", s)
		}
		if zone := ip.Zone(); zone != "" && !isNameChars(zone) {
			return "", fmt.Errorf("%q has an invalid IPv6 zone %q", s, zone)
		}
		return net.JoinHostPort(ip.String(), strconv.Itoa(p)), nil
	}
	if bracketed {
		return "", fmt.Errorf("%q has brackets around %q, which is not an IPv6 address", s, host)
	}
	if err := checkHostName(host); err != nil {
		return "", fmt.Errorf("%q has an invalid host: %v", s, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// checkHostName checks that name is a plausible DNS name (letters, digits,
// '-', '_' and dots). It is lenient; the dialer has the last word.
func checkHostName(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("host name is %d bytes long, more than 253", len(name))
	}
	if strings.Trim(name, "0123456789.") == "" {
		return fmt.Errorf("%q is not a valid IPv4 address", name)
	}
	if i := strings.IndexFunc(name, func(c rune) bool { return !isNameChar(c) }); i >= 0 {
		c, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("host name %q has the character %q", name, c)
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	for _, l := range labels {
		if l == "" {
			return fmt.Errorf("host name %q has an empty label", name)
		}
		if len(l) > 63 {
			return fmt.Errorf("host name %q has a label longer than 63 bytes", name)
		}
	}
	return nil
}

// isNameChar reports whether c may appear in a host name or an IPv6 zone.
func isNameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

func isNameChars(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return !isNameChar(c) }) < 0
}

// dedup collects addresses in order, dropping repeats.
type dedup struct {
	addrs []string
	seen  map[string]bool
}

func newDedup() *dedup {
	return &dedup{addrs: []string{}, seen: make(map[string]bool)}
}

// addList adds the addresses of a comma-separated list, in canonical form
// (see canonicalAddr); empty fields are skipped.
func (d *dedup) addList(list string) error {
	for field := range strings.SplitSeq(list, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		addr, err := canonicalAddr(field)
		if err != nil {
			return err
		}
		d.add(addr)
	}
	return nil
}

func (d *dedup) add(addr string) {
	if d.seen[addr] {
		return
	}
	d.seen[addr] = true
	d.addrs = append(d.addrs, addr)
}

func targetString(t resolver.Target) string {
	return t.URL.String()
}
