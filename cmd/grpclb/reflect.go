package main

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// reflectMethod finds a method's descriptor through the server's
// reflection service (grpc.reflection.v1), fetching the file that defines
// the service and every file it imports.
func reflectMethod(ctx context.Context, cc *grpc.ClientConn, method string) (protoreflect.MethodDescriptor, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || !strings.HasPrefix(method, "/") || svc == "" || name == "" {
		return nil, fmt.Errorf("--method %q is not /package.Service/Method", method)
	}
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("server reflection: %w", err)
	}
	defer stream.CloseSend()
	files := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *reflectionpb.ServerReflectionRequest) error {
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("server reflection: %w (does the server register reflection?)", err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			return fmt.Errorf("server reflection: %s", e.GetErrorMessage())
		}
		for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(raw, fd); err != nil {
				return fmt.Errorf("server reflection sent a bad descriptor: %w", err)
			}
			files[fd.GetName()] = fd
		}
		return nil
	}
	if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc}}); err != nil {
		return nil, err
	}
	// Fetch imports the server did not send with the file (a bounded
	// number of times); take the well-known ones from this program.
	for range 100 {
		missing := ""
		for _, fd := range files {
			for _, dep := range fd.GetDependency() {
				if files[dep] != nil {
					continue
				}
				if local, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
					files[dep] = protodesc.ToFileDescriptorProto(local)
					continue
				}
				missing = dep
			}
		}
		if missing == "" {
			break
		}
		if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileByFilename{FileByFilename: missing}}); err != nil {
			return nil, err
		}
		if files[missing] == nil {
			return nil, fmt.Errorf("server reflection has no file %q", missing)
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range files {
		set.File = append(set.File, fd)
	}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptors from server reflection: %w", err)
	}
	d, err := reg.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", svc, name)
	}
	return md, nil
}

func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	return dynamicpb.NewMessage(md)
}
