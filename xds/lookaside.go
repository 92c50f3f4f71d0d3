package xds

import (
	"net/netip"
	"slices"
	"strings"

	lbpb "google.golang.org/grpc/balancer/grpclb/grpc_lb_v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// lookaside serves grpc.lb.v1.LoadBalancer, the lookaside protocol that
// came before xDS (grpc-go's "grpclb" balancer, gRPC's load-balancing.md):
// a client names its service in its first message and is sent the
// service's backends, and the list again whenever it changes. The backends
// are the ones the Server's resolvers find for xDS.
type lookaside struct {
	lbpb.UnimplementedLoadBalancerServer
	s *Server
}

// BalanceLoad answers one client: its initial request names the service
// (a Config name, or a name with a :port a client's target carries), the
// initial response asks for no load reports, and then every change of
// the service's endpoints is sent as a server list. No list is sent while
// the service has no endpoints (the client's fallback applies); a dead
// registry keeps the last list.
func (l lookaside) BalanceLoad(stream lbpb.LoadBalancer_BalanceLoadServer) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	init := req.GetInitialRequest()
	if init == nil {
		return status.Error(codes.InvalidArgument, "grpclb xds: the first message of BalanceLoad must be an initial request naming the service")
	}
	name, ok := l.s.lookasideService(init.GetName())
	if !ok {
		return status.Errorf(codes.NotFound, "grpclb xds: no service %q (served: %s)", init.GetName(), strings.Join(l.s.serviceNames(), ", "))
	}
	if err := stream.Send(&lbpb.LoadBalanceResponse{LoadBalanceResponseType: &lbpb.LoadBalanceResponse_InitialResponse{
		InitialResponse: &lbpb.InitialLoadBalanceResponse{},
	}}); err != nil {
		return err
	}
	// Clients send nothing more without a report interval; whatever they
	// send is read and dropped, so that their stream never blocks.
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	var sent *lbpb.ServerList
	for {
		list, changed := l.s.serverList(name)
		if len(list.GetServers()) > 0 && !proto.Equal(list, sent) {
			if err := stream.Send(&lbpb.LoadBalanceResponse{LoadBalanceResponseType: &lbpb.LoadBalanceResponse_ServerList{ServerList: list}}); err != nil {
				return err
			}
			sent = list
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		case <-l.s.ctx.Done():
			return status.Error(codes.Unavailable, "grpclb xds: server closing")
		}
	}
}

// lookasideService maps a name a grpc.lb.v1 client sent to a service: the
// name itself, or the name without a :port.
func (s *Server) lookasideService(name string) (string, bool) {
	names := s.serviceNames()
	if slices.Contains(names, name) {
		return name, true
	}
	if i := strings.LastIndexByte(name, ':'); i > 0 && slices.Contains(names, name[:i]) {
		return name[:i], true
	}
	return "", false
}

// serverList returns service's endpoints as a grpc.lb.v1 server list,
// each endpoint's first address (the protocol carries IP addresses only:
// others are left out), and a channel closed at the next change of any
// service's endpoints.
func (s *Server) serverList(service string) (*lbpb.ServerList, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &lbpb.ServerList{}
	for _, loc := range s.endpoints[service] {
		for _, ep := range loc.eps {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				continue
			}
			list.Servers = append(list.Servers, &lbpb.Server{IpAddress: ip.AsSlice(), Port: int32(sa.GetPortValue())})
		}
	}
	return list, s.changed
}

// serviceNames returns the services' names, in Config order.
func (s *Server) serviceNames() []string {
	names := make([]string, len(s.services))
	for i, svc := range s.services {
		names[i] = svc.Name
	}
	return names
}
