package proxy

import (
	"time"

	"github.com/grpclb/grpclb/proxy/internal/routing"
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

// routeTable finds a method's route (see routing.Table).
type routeTable = routing.Table[*route]

func newRouteTable(routes []*route) *routeTable {
	return routing.NewTable(routes, func(r *route) string { return r.prefix })
}
