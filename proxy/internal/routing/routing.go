// Package routing finds the route of a gRPC call from its method path, as
// grpclb proxy's data planes do: routes match a whole service
// ("/pkg.Svc/") or a method prefix ("/pkg.Svc/Get"), the longest prefix
// wins, and a path that is not exactly /service/method is refused before
// any route is looked at.
package routing

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Table finds a method's route with one map lookup (the service) and a
// short scan of the service's method prefixes, longest first. It is
// immutable once built, and safe for concurrent use.
type Table[R any] struct {
	byService map[string]*service[R]
}

type service[R any] struct {
	whole    R // the route for "/pkg.Svc/", if hasWhole
	hasWhole bool
	prefixes []entry[R] // routes for longer prefixes, longest first
}

type entry[R any] struct {
	prefix string
	route  R
}

// NewTable builds the table of routes, each matching the prefix prefixOf
// returns for it: "/pkg.Svc/" or "/pkg.Svc/Method-prefix".
func NewTable[R any](routes []R, prefixOf func(R) string) *Table[R] {
	t := &Table[R]{byService: make(map[string]*service[R])}
	for _, r := range routes {
		prefix := prefixOf(r)
		svc, method, _ := strings.Cut(strings.TrimPrefix(prefix, "/"), "/")
		s := t.byService[svc]
		if s == nil {
			s = &service[R]{}
			t.byService[svc] = s
		}
		if method == "" {
			s.whole, s.hasWhole = r, true
		} else {
			s.prefixes = append(s.prefixes, entry[R]{prefix, r})
		}
	}
	for _, s := range t.byService {
		sort.SliceStable(s.prefixes, func(i, j int) bool { return len(s.prefixes[i].prefix) > len(s.prefixes[j].prefix) })
	}
	return t
}

// Match returns the route of a full method name ("/pkg.Svc/Method"), or
// the zero R and false.
func (t *Table[R]) Match(method string) (R, bool) {
	var none R
	if len(method) < 2 || method[0] != '/' {
		return none, false
	}
	svc, _, ok := strings.Cut(method[1:], "/")
	if !ok {
		return none, false
	}
	s := t.byService[svc]
	if s == nil {
		return none, false
	}
	for _, e := range s.prefixes {
		if strings.HasPrefix(method, e.prefix) {
			return e.route, true
		}
	}
	return s.whole, s.hasWhole
}

// Has reports whether a route matches calls of service, whole or in part.
func (t *Table[R]) Has(service string) bool { return t.byService[service] != nil }

// Routes returns the routes of service, whole and by prefix.
func (t *Table[R]) Routes(service string) []R {
	s := t.byService[service]
	if s == nil {
		return nil
	}
	var out []R
	if s.hasWhole {
		out = append(out, s.whole)
	}
	for _, e := range s.prefixes {
		out = append(out, e.route)
	}
	return out
}

// Services returns the names of the services routes match, whole or in
// part, sorted.
func (t *Table[R]) Services() []string {
	out := make([]string, 0, len(t.byService))
	for s := range t.byService {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// CheckMethodPath refuses a :path that is not exactly /service/method:
// one more slash, an empty, "." or ".." segment, a percent escape, white
// space or a control character. A route matches by prefix, so a hop
// behind the proxy that normalised such a path (/a.B/Get/../Delete) could
// turn it into a method the route meant to keep out; gRPC clients never
// send one.
func CheckMethodPath(path string) error {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	bad := !strings.HasPrefix(path, "/") || !ok || svc == "" || method == "" ||
		strings.Contains(method, "/") || svc == "." || svc == ".." || method == "." || method == ".." ||
		strings.ContainsFunc(path, func(r rune) bool { return r == '%' || r <= ' ' || r == 0x7f })
	if bad {
		return fmt.Errorf("malformed method path %s: want /package.Service/Method", jsonconf.Truncate(strconv.QuoteToASCII(path)))
	}
	return nil
}
