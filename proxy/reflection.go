package proxy

import (
	"strings"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// reflectionServices are the services of grpc.reflection, v1 and v1alpha.
var reflectionServices = []string{"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

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

// registerLocalReflection registers the proxy's own reflection service
// (reflection: true) on local: it lists local's services and describes
// only their files, not every descriptor compiled into the binary.
func registerLocalReflection(local *localServices) {
	files := new(protoregistry.Files) // three files without imports: no conflicts
	_ = files.RegisterFile(healthpb.File_grpc_health_v1_health_proto)
	_ = files.RegisterFile(reflectionv1.File_grpc_reflection_v1_reflection_proto)
	_ = files.RegisterFile(reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto)
	opts := reflection.ServerOptions{Services: local, DescriptorResolver: files, ExtensionResolver: new(protoregistry.Types)}
	reflectionv1.RegisterServerReflectionServer(local, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(local, reflection.NewServer(opts))
}
