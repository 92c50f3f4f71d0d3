package proxy

import (
	"strings"

	"github.com/grpclb/grpclb/proxy/internal/ownreflection"
)

// reflectionServices are the services of grpc.reflection, v1 and v1alpha.
var reflectionServices = ownreflection.Services

// reflectionRoutes are the routes that send reflection calls to the
// cluster cfg.Reflection names, for the services no route of routes
// claims.
func (p *Proxy) reflectionRoutes(cfg Config, st *state, routes []*route) []*route {
	name := cfg.Reflection.Cluster
	if name == "" {
		return nil
	}
	var out []*route
	for _, svc := range reflectionServices {
		claimed := false
		for _, r := range routes {
			claimed = claimed || strings.HasPrefix(r.prefix, "/"+svc+"/")
		}
		if !claimed {
			out = append(out, &route{
				label:    svc,
				prefix:   "/" + svc + "/",
				upstream: st.upstreams[name],
				metrics:  p.metrics.forRoute(svc, name),
			})
		}
	}
	return out
}
