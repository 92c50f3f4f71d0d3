package proxy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// route is one configured route, bound to the cluster of its config
// version.
type route struct {
	label    string // metrics and logs
	prefix   string // "/pkg.Svc/" or "/pkg.Svc/Method-prefix"
	upstream *upstream
	metrics  *routeMetrics
	timeout  time.Duration // caps the calls' deadline; 0: none
	unary    *unaryPolicy  // retries or hedges of an idempotent route; nil: streamed through
}

// routeTable finds a method's route with one map lookup (the service) and
// a short scan of the service's method prefixes, longest first. It is
// immutable once built.
type routeTable struct {
	byService map[string]*serviceRoutes
}

type serviceRoutes struct {
	whole    *route   // the route for "/pkg.Svc/", if any
	prefixes []*route // routes for longer prefixes, longest first
}

func newRouteTable(routes []*route) *routeTable {
	t := &routeTable{byService: make(map[string]*serviceRoutes)}
	for _, r := range routes {
		svc, method, _ := strings.Cut(r.prefix[1:], "/")
		sr := t.byService[svc]
		if sr == nil {
			sr = &serviceRoutes{}
			t.byService[svc] = sr
		}
		if method == "" {
			sr.whole = r
		} else {
			sr.prefixes = append(sr.prefixes, r)
		}
	}
	for _, sr := range t.byService {
		sort.SliceStable(sr.prefixes, func(i, j int) bool { return len(sr.prefixes[i].prefix) > len(sr.prefixes[j].prefix) })
	}
	return t
}

// match returns the route of a full method name ("/pkg.Svc/Method"), or
// nil.
func (t *routeTable) match(method string) *route {
	if len(method) < 2 || method[0] != '/' {
		return nil
	}
	svc, _, ok := strings.Cut(method[1:], "/")
	if !ok {
		return nil
	}
	sr := t.byService[svc]
	if sr == nil {
		return nil
	}
	for _, r := range sr.prefixes {
		if strings.HasPrefix(method, r.prefix) {
			return r
		}
	}
	return sr.whole
}

// services returns the names of the services routes match, whole or in
// part.
func (t *routeTable) services() []string {
	out := make([]string, 0, len(t.byService))
	for s := range t.byService {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// checkMethodPath refuses a :path that is not exactly /service/method:
// one more slash, an empty, "." or ".." segment, a percent escape, white
// space or a control character. A route matches by prefix, so a hop
// behind the proxy that normalised such a path (/a.B/Get/../Delete) could
// turn it into a method the route meant to keep out; gRPC clients never
// send one.
func checkMethodPath(path string) error {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	bad := !strings.HasPrefix(path, "/") || !ok || svc == "" || method == "" ||
		strings.Contains(method, "/") || svc == "." || svc == ".." || method == "." || method == ".." ||
		strings.ContainsFunc(path, func(r rune) bool { return r == '%' || r <= ' ' || r == 0x7f })
	if bad {
		return fmt.Errorf("malformed method path %s: want /package.Service/Method", jsonconf.Truncate(strconv.QuoteToASCII(path)))
	}
	return nil
}
