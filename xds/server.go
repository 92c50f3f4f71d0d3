package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	lbpb "google.golang.org/grpc/balancer/grpclb/grpc_lb_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/protobuf/proto"

	// The core's resolvers, so that static:/// and dnspoll:/// targets
	// work without an import in the program.
	_ "github.com/grpclb/grpclb/resolver/dnspoll"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// snapshotKey is the one key of the snapshot cache: every node gets the
// same resources.
const snapshotKey = "grpclb"

// configVersion is the version of the listeners, routes and clusters,
// which follow the Config and do not change while a Server runs.
const configVersion = "config-1"

// Options configures a Server.
type Options struct {
	// Logger receives the server's records: endpoint updates, resolver
	// errors, clients' NACKs. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is an xDS control plane (ADS, gRFC A27) that serves the endpoints
// grpclb's resolvers find. Create it with NewServer, serve it with Serve or
// Register, and Close it.
type Server struct {
	log   *slog.Logger
	cache cachev3.SnapshotCache
	ads   serverv3.Server
	ctx   context.Context
	stop  context.CancelFunc

	// static are the listeners, routes and clusters, fixed by the Config.
	static [types.UnknownType]cachev3.Resources

	mu        sync.Mutex
	names     []string                                     // services, in Config order
	endpoints map[string]*endpointpb.ClusterLoadAssignment // by service
	version   uint64                                       // of the endpoints; only grows
	changed   chan struct{}                                // closed, and replaced, at each new version
	resolvers []resolver.Resolver
	grpc      *grpc.Server // set by Serve
	closed    bool
}

// NewServer validates cfg, publishes its services without endpoints and
// starts a resolver for each; the endpoints follow as the resolvers find
// them. It fails if cfg is invalid or a resolver cannot be built (a bad
// target), naming the service.
func NewServer(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		log: log,
		// Not the cache's ADS mode, though clients use ADS: in that mode
		// it answers only requests that name every resource of a type,
		// as Envoy's do; a gRPC client names only its own services.
		cache:     cachev3.NewSnapshotCache(false, oneNode{}, nil),
		ctx:       ctx,
		stop:      stop,
		endpoints: make(map[string]*endpointpb.ClusterLoadAssignment, len(cfg.Services)),
		changed:   make(chan struct{}),
	}
	s.ads = serverv3.NewServer(ctx, s.cache, s.callbacks())

	var listeners, routes, clusters []types.Resource
	for _, svc := range cfg.Services {
		listeners = append(listeners, listener(svc))
		routes = append(routes, route(svc))
		clusters = append(clusters, cluster(svc))
		s.names = append(s.names, svc.Name)
		s.endpoints[svc.Name] = assignment(svc.Name, nil)
	}
	s.static[types.Listener] = cachev3.NewResources(configVersion, listeners)
	s.static[types.Route] = cachev3.NewResources(configVersion, routes)
	s.static[types.Cluster] = cachev3.NewResources(configVersion, clusters)
	s.mu.Lock()
	err := s.publishLocked()
	s.mu.Unlock()
	if err != nil {
		stop()
		return nil, err
	}

	for _, svc := range cfg.Services {
		target, _ := parseTarget(svc.Target) // validated
		cc := &clientConn{server: s, service: svc.Name, log: log.With("service", svc.Name, "target", svc.Target)}
		r, err := resolver.Get(target.URL.Scheme).Build(target, cc, resolver.BuildOptions{DisableServiceConfig: true})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("xds: service %q: resolver for %q: %w", svc.Name, svc.Target, err)
		}
		s.mu.Lock()
		s.resolvers = append(s.resolvers, r)
		s.mu.Unlock()
	}
	return s, nil
}

// Register registers the ADS service, and the grpc.lb.v1 LoadBalancer
// service for clients of the older lookaside protocol, on r (a
// *grpc.Server of the caller's).
func (s *Server) Register(r grpc.ServiceRegistrar) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(r, s.ads)
	lbpb.RegisterLoadBalancerServer(r, lookaside{s: s})
}

// Serve serves ADS on lis with a gRPC server of its own, without TLS,
// until Close. It returns nil after Close.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lis.Close()
		return errors.New("xds: Serve after Close")
	}
	if s.grpc != nil {
		s.mu.Unlock()
		lis.Close()
		return errors.New("xds: Serve called twice")
	}
	gs := grpc.NewServer()
	s.Register(gs)
	s.grpc = gs
	s.mu.Unlock()
	err := gs.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Close stops the resolvers and the server of Serve; clients' streams end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	rs, gs := s.resolvers, s.grpc
	s.resolvers = nil
	s.mu.Unlock()
	for _, r := range rs {
		r.Close() // outside s.mu: a resolver may be publishing
	}
	if gs != nil {
		gs.Stop()
	}
	s.stop()
}

// Version returns the version of the endpoints served now: 1 with the
// services published without endpoints, one more for each change since.
func (s *Server) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// update replaces service's endpoints with eps, unless they are the same,
// and publishes a new snapshot.
func (s *Server) update(service string, eps []*endpointpb.LbEndpoint) (changed bool, version uint64, err error) {
	cla := assignment(service, eps)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, s.version, nil
	}
	if proto.Equal(cla, s.endpoints[service]) {
		return false, s.version, nil
	}
	old := s.endpoints[service]
	s.endpoints[service] = cla
	if err := s.publishLocked(); err != nil {
		s.endpoints[service] = old
		return false, s.version, err
	}
	return true, s.version, nil
}

// publishLocked sets a snapshot of the current endpoints with the next
// version. Only the endpoints' version changes: clients are sent the
// assignments again, not the listeners, routes and clusters.
func (s *Server) publishLocked() error {
	claims := make([]types.Resource, 0, len(s.names))
	for _, name := range s.names {
		claims = append(claims, s.endpoints[name])
	}
	snap := &cachev3.Snapshot{Resources: s.static}
	snap.Resources[types.Endpoint] = cachev3.NewResources(strconv.FormatUint(s.version+1, 10), claims)
	// Consistent by construction: each service has its listener, route,
	// cluster and assignment. (Snapshot.Consistent does not see the route
	// an api_listener names, so it cannot check gRPC's listeners.)
	if err := s.cache.SetSnapshot(s.ctx, snapshotKey, snap); err != nil {
		return fmt.Errorf("xds: set snapshot: %w", err)
	}
	s.version++
	close(s.changed) // wakes the grpc.lb.v1 streams
	s.changed = make(chan struct{})
	return nil
}

// oneNode maps every node to the one snapshot.
type oneNode struct{}

func (oneNode) ID(*corepb.Node) string { return snapshotKey }
