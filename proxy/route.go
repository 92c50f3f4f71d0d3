package proxy

import (
	"sort"
	"strings"
)

// route is one configured route, bound to the cluster of its config
// version.
type route struct {
	label    string // metrics and logs
	prefix   string // "/pkg.Svc/" or "/pkg.Svc/Method-prefix"
	upstream *upstream
	metrics  *routeMetrics
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
