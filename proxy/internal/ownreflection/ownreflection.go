// Package ownreflection registers grpc.reflection (v1 and v1alpha) for a
// proxy's own services: it lists the services registered on the server
// and describes only the files of grpc.health.v1 and grpc.reflection, not
// every descriptor compiled into the binary (which, in grpclb, includes
// test protos and etcd's), so that clients see what the proxy serves.
package ownreflection

import (
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Services are the services of grpc.reflection, v1 and v1alpha.
var Services = []string{"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

// Server is where the reflection services are registered and whose
// services they list.
type Server interface {
	grpc.ServiceRegistrar
	reflection.ServiceInfoProvider
}

// Register registers reflection v1 and v1alpha on s.
func Register(s Server) {
	files := new(protoregistry.Files) // three files without imports: no conflicts
	_ = files.RegisterFile(healthpb.File_grpc_health_v1_health_proto)
	_ = files.RegisterFile(reflectionv1.File_grpc_reflection_v1_reflection_proto)
	_ = files.RegisterFile(reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto)
	opts := reflection.ServerOptions{Services: s, DescriptorResolver: files, ExtensionResolver: new(protoregistry.Types)}
	reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(opts))
}
