package proxy

import (
	"context"
	"strings"

	"google.golang.org/grpc"
)

// localServices are the services the proxy answers itself (health and
// reflection) unless a route claims them. It is a grpc.ServiceRegistrar,
// so that grpc-go's own registration functions fill it, and its handlers
// are called from the proxy's unknown-service handler: routes are checked
// first, and a reload can change them.
type localServices struct {
	services map[string]*localService
}

type localService struct {
	impl    any
	info    grpc.ServiceInfo
	unary   map[string]grpc.MethodDesc
	streams map[string]grpc.StreamDesc
}

func newLocalServices() *localServices {
	return &localServices{services: make(map[string]*localService)}
}

// RegisterService implements grpc.ServiceRegistrar.
func (l *localServices) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s := &localService{
		impl:    impl,
		info:    grpc.ServiceInfo{Metadata: desc.Metadata},
		unary:   make(map[string]grpc.MethodDesc),
		streams: make(map[string]grpc.StreamDesc),
	}
	for _, m := range desc.Methods {
		s.unary[m.MethodName] = m
		s.info.Methods = append(s.info.Methods, grpc.MethodInfo{Name: m.MethodName})
	}
	for _, st := range desc.Streams {
		s.streams[st.StreamName] = st
		s.info.Methods = append(s.info.Methods, grpc.MethodInfo{Name: st.StreamName, IsClientStream: st.ClientStreams, IsServerStream: st.ServerStreams})
	}
	l.services[desc.ServiceName] = s
}

// GetServiceInfo lists the local services, for reflection.
func (l *localServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	out := make(map[string]grpc.ServiceInfo, len(l.services))
	for name, s := range l.services {
		out[name] = s.info
	}
	return out
}

// handler returns the local handler of a full method name, or nil. Its
// streams end when stopping does.
func (l *localServices) handler(method string, stopping context.Context) func(grpc.ServerStream) error {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return nil
	}
	s := l.services[svc]
	if s == nil {
		return nil
	}
	if m, ok := s.unary[name]; ok {
		return func(ss grpc.ServerStream) error {
			resp, err := m.Handler(s.impl, ss.Context(), ss.RecvMsg, nil)
			if err != nil {
				return err
			}
			return ss.SendMsg(resp)
		}
	}
	if st, ok := s.streams[name]; ok {
		return func(ss grpc.ServerStream) error {
			ctx, cancel := context.WithCancel(ss.Context())
			defer cancel()
			stop := context.AfterFunc(stopping, cancel)
			defer stop()
			return st.Handler(s.impl, streamWithContext{ss, ctx})
		}
	}
	return nil
}

// streamWithContext is a ServerStream with another context.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s streamWithContext) Context() context.Context { return s.ctx }

func isReflection(service string) bool {
	return strings.HasPrefix(service, "grpc.reflection.")
}
