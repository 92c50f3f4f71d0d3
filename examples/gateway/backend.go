package main

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/grpclb/grpclb/server"
)

// The example's own service, so that the example needs nothing outside
// this directory and no code generation: echo.v1.Echo/Echo takes and
// returns a google.protobuf.Struct (any JSON object). The reply is the
// request with "backend" set to the name of the backend that answered.
//
// In a real service the gRPC types come from protoc-gen-go-grpc; the
// service description below is what it would generate for
//
//	service Echo { rpc Echo(google.protobuf.Struct) returns (google.protobuf.Struct); }
const (
	echoService = "echo.v1.Echo"
	echoMethod  = "/echo.v1.Echo/Echo"
)

// echoer is the service's handler type.
type echoer interface {
	Echo(context.Context, *structpb.Struct) (*structpb.Struct, error)
}

var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: echoService,
	HandlerType: (*echoer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(structpb.Struct)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) { return srv.(echoer).Echo(ctx, req.(*structpb.Struct)) }
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: echoMethod}, call)
		},
	}},
	Metadata: "echo.proto",
}

// backend answers Echo with its name.
type backend struct{ name string }

func (b backend) Echo(_ context.Context, in *structpb.Struct) (*structpb.Struct, error) {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range in.GetFields() {
		out.Fields[k] = v
	}
	out.Fields["backend"] = structpb.NewStringValue(b.name)
	return out, nil
}

// backends are n gRPC servers on 127.0.0.1, named b1 to bn, with the
// health service (grpclb.NewClient checks it) and grpclb's server options
// (connection age, keepalive that accepts the client's pings).
type backends struct {
	addrs   []string
	servers []*grpc.Server
}

func startBackends(n int) (*backends, error) {
	opts, err := server.Options(server.Config{})
	if err != nil {
		return nil, err
	}
	bs := &backends{}
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			bs.Close()
			return nil, err
		}
		s := grpc.NewServer(opts...)
		s.RegisterService(&echoServiceDesc, backend{name: fmt.Sprintf("b%d", i+1)})
		hs := health.NewServer()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s, hs)
		go s.Serve(lis)
		bs.addrs = append(bs.addrs, lis.Addr().String())
		bs.servers = append(bs.servers, s)
	}
	return bs, nil
}

// Close stops every backend.
func (bs *backends) Close() {
	for _, s := range bs.servers {
		s.Stop()
	}
}
