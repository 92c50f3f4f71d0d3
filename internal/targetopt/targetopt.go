// Package targetopt parses the pieces that grpclb's resolver targets share:
// a registry's host:port in the authority and positive durations in the
// query, with errors that say what is wrong.
package targetopt

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
)

// Duration parses option key's value v as a positive Go duration.
func Duration(key, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("option %s=%q is not a positive duration such as 5s", key, v)
	}
	return d, nil
}

// SplitHostPort splits "host:port", "host" and "[v6]:port"; a missing port
// is defPort. The error says what is wrong with s, for a message that names
// s first.
func SplitHostPort(s, defPort string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("is empty")
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if err := CheckPort(p); err != nil {
			return "", "", err
		}
		if h == "" {
			return "", "", errors.New("has a port but no host")
		}
		return h, p, CheckHost(h)
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && ip.Is6() {
			return ip.String(), defPort, nil
		}
	}
	if strings.ContainsAny(s, ":[]") {
		return "", "", errors.New("is not host, host:port or [ipv6]:port")
	}
	return s, defPort, CheckHost(s)
}

// CheckPort accepts a decimal port from 1 to 65535.
func CheckPort(p string) error {
	if p == "" {
		return errors.New("ends with a colon but has no port")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '+' {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// CheckHost rejects characters no host name or address has.
func CheckHost(h string) error {
	for _, c := range h {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == '/' || c == ',' || c == '@' || c == '?' || c == '#' || c == unicode.ReplacementChar {
			return fmt.Errorf("host %q has character %q", h, c)
		}
	}
	return nil
}

// Bool parses option key's value v as true or false.
func Bool(key, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("option %s=%q is not true or false", key, v)
	}
	return b, nil
}

// PublishEmpty parses the empty= option resolvers share: "keep" (ignore an
// empty answer, keeping the last good set) or "publish" (publish it).
func PublishEmpty(v string) (bool, error) {
	switch v {
	case "keep":
		return false, nil
	case "publish":
		return true, nil
	}
	return false, fmt.Errorf("option empty=%q is not keep or publish", v)
}

// Option is one query option a target may carry: its name and how to
// apply its value.
type Option struct {
	Name string
	Set  func(v string) error
	// Repeat lets the option be given more than once (Set is called for
	// each value, in order); otherwise a second value is an error.
	Repeat bool
}

// Query applies the options in raw (a URL's raw query). An option not in
// opts, one given twice (unless Repeat), or a bad value is an error that
// names it; an unknown one is listed with the known names.
func Query(raw string, opts ...Option) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("query %q: %w", raw, err)
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		vals := q[key]
		i := slices.IndexFunc(opts, func(o Option) bool { return o.Name == key })
		if i < 0 {
			names := make([]string, len(opts))
			for j, o := range opts {
				names[j] = o.Name
			}
			return fmt.Errorf("unknown option %q (known: %s)", key, strings.Join(names, ", "))
		}
		if len(vals) != 1 && !opts[i].Repeat {
			return fmt.Errorf("option %q given %d times", key, len(vals))
		}
		for _, v := range vals {
			if err := opts[i].Set(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// DurationOption sets *p from a positive duration such as 5s.
func DurationOption(name string, p *time.Duration) Option {
	return Option{Name: name, Set: func(v string) (err error) {
		*p, err = Duration(name, v)
		return err
	}}
}

// BoolOption sets *p from true or false.
func BoolOption(name string, p *bool) Option {
	return Option{Name: name, Set: func(v string) (err error) {
		*p, err = Bool(name, v)
		return err
	}}
}

// EmptyOption is the empty= option resolvers share: *publish is set by
// "publish" and cleared by "keep".
func EmptyOption(publish *bool) Option {
	return Option{Name: "empty", Set: func(v string) (err error) {
		*publish, err = PublishEmpty(v)
		return err
	}}
}

// ChoiceOption sets *p to the value named by one of words.
func ChoiceOption[T any](name string, p *T, words []string, values []T) Option {
	return Option{Name: name, Set: func(v string) error {
		i := slices.Index(words, v)
		if i < 0 {
			return fmt.Errorf("option %s=%q is not %s", name, v, orList(words))
		}
		*p = values[i]
		return nil
	}}
}

// orList writes "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// DefaultDuration sets *d, the option called name, to def when it is zero,
// then checks it: never negative, not below min when min > 0, and with
// max > 0 between min and max. The error names the option, its value and
// the bound it breaks.
func DefaultDuration(name string, d *time.Duration, def, min, max time.Duration) error {
	if *d == 0 {
		*d = def
	}
	switch {
	case max > 0 && (*d < min || *d > max):
		return fmt.Errorf("%s %v is not between %v and %v", name, *d, min, max)
	case min > 0 && *d < min:
		return fmt.Errorf("%s %v is below the floor of %v", name, *d, min)
	case *d < 0:
		return fmt.Errorf("%s %v is negative", name, *d)
	}
	return nil
}
