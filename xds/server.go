package xds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	lbpb "google.golang.org/grpc/balancer/grpclb/grpc_lb_v1"
	"google.golang.org/grpc/resolver"

	// The core's resolvers, so that static:/// and dnspoll:/// targets
	// work without an import in the program.
	_ "github.com/grpclb/grpclb/resolver/dnspoll"
	_ "github.com/grpclb/grpclb/resolver/static"
)

// snapshotKey is the key of the snapshot of nodes without a zone: every
// locality at priority 0. A node in zone Z gets the snapshot zoneKey(Z).
const snapshotKey = "grpclb"

// zoneKey is the snapshot key of the nodes in zone.
func zoneKey(zone string) string { return "zone/" + zone }

// maxZones bounds the zones that get a snapshot of their own (each
// endpoint update rebuilds all of them); a node of a further zone gets
// the snapshot of nodes without a zone.
const maxZones = 64

// configVersion is the version of the listeners, routes and clusters,
// which follow the Config and do not change while a Server runs.
const configVersion = "config-1"

// Options configures a Server.
type Options struct {
	// Logger receives the server's records: endpoint updates, resolver
	// errors, clients' NACKs. Nil means slog.Default().
	Logger *slog.Logger
	// NodeGrace is how long a node keeps its subset row after its last
	// stream closed (services with Subset only); 0 means
	// DefaultNodeGrace.
	NodeGrace time.Duration
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
	services  []Service             // in Config order
	endpoints map[string][]locality // by service name
	zones     []string              // of nodes seen, each with its snapshot
	version   uint64                // of the endpoints; only grows
	published map[string]bool       // services whose resolver has updated once
	changed   chan struct{}         // closed, and replaced, at each new version
	resolvers []resolver.Resolver
	grpc      *grpc.Server // set by Serve
	closed    bool

	// Subsetting (subset.go), when a service has a Subset.
	anySubset  bool
	rows       map[string]*subsetRows // by service
	nodes      map[string]*node       // by node ID
	held       []bool                 // the rows nodes hold
	lowestFree int                    // no row below it is free
	streamNode map[streamKey]string   // the node of each stream that made a request
	nodeGrace  time.Duration

	// known is the keys of the snapshots of zones and nodes, for the
	// cache's node hash, which takes knownMu only: a key is in it once
	// its snapshot is set.
	knownMu sync.RWMutex
	known   map[string]bool
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
	if opts.NodeGrace < 0 {
		return nil, fmt.Errorf("xds: Options.NodeGrace %v is negative", opts.NodeGrace)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		log:        log,
		ctx:        ctx,
		stop:       stop,
		endpoints:  make(map[string][]locality, len(cfg.Services)),
		known:      map[string]bool{},
		published:  map[string]bool{},
		changed:    make(chan struct{}),
		rows:       map[string]*subsetRows{},
		nodes:      map[string]*node{},
		streamNode: map[streamKey]string{},
		nodeGrace:  cmp.Or(opts.NodeGrace, DefaultNodeGrace),
	}
	// Not the cache's ADS mode, though clients use ADS: in that mode it
	// answers only requests that name every resource of a type, as
	// Envoy's do; a gRPC client names only its own services.
	s.cache = cachev3.NewSnapshotCache(false, nodeZone{s}, nil)
	s.ads = serverv3.NewServer(ctx, s.cache, s.callbacks())

	var listeners, routes, clusters []types.Resource
	for _, svc := range cfg.Services {
		listeners = append(listeners, listener(svc))
		routes = append(routes, route(svc))
		clusters = append(clusters, cluster(svc))
		s.services = append(s.services, svc)
		s.endpoints[svc.Name] = nil // not served until the resolver's first update
	}
	s.anySubset = s.subsetting()
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
	for _, nd := range s.nodes {
		if nd.release != nil {
			nd.release.Stop()
		}
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.Close() // outside s.mu: a resolver may be publishing
	}
	if gs != nil {
		gs.Stop()
	}
	s.stop()
}

// Version returns the version of the endpoints served now: 1 before any
// resolver's first update, one more for each change since.
func (s *Server) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// NodeRows returns the subset row of each node that holds one (services
// with Subset only): the nodes connected now and those within NodeGrace of
// their last stream, by node ID.
func (s *Server) NodeRows() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make(map[string]int, len(s.nodes))
	for id, nd := range s.nodes {
		rows[id] = nd.row
	}
	return rows
}

// update replaces service's endpoints with locs, unless they are the
// same, and publishes new snapshots.
func (s *Server) update(service string, locs []locality) (changed bool, version uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, s.version, nil
	}
	old, first := s.endpoints[service], !s.published[service]
	if !first && sameLocalities(locs, old) {
		return false, s.version, nil
	}
	s.endpoints[service], s.published[service] = locs, true
	oldRows := s.rows[service]
	if i := slices.IndexFunc(s.services, func(svc Service) bool { return svc.Name == service }); i >= 0 && s.services[i].Subset != nil {
		moved := s.resubsetLocked(s.services[i], locs)
		s.log.Info("xds: subsets follow the endpoints", "service", service, "memberships_moved", moved)
	}
	if err := s.publishLocked(); err != nil {
		s.endpoints[service], s.published[service], s.rows[service] = old, !first, oldRows
		return false, s.version, err
	}
	return true, s.version, nil
}

// publishLocked sets the snapshots of nodes without a zone and of every
// zone seen, with the next version. Only the endpoints' version changes:
// clients are sent the assignments again, not the listeners, routes and
// clusters.
func (s *Server) publishLocked() error {
	version := s.version + 1
	if err := s.setSnapshotLocked(snapshotKey, "", version, -1); err != nil {
		return err
	}
	for _, zone := range s.zones {
		if err := s.setSnapshotLocked(zoneKey(zone), zone, version, -1); err != nil {
			return err
		}
	}
	for id, nd := range s.nodes {
		if err := s.setSnapshotLocked(nodeKey(id), nd.zone, version, nd.row); err != nil {
			return err
		}
	}
	s.version = version
	close(s.changed) // wakes the grpc.lb.v1 streams
	s.changed = make(chan struct{})
	return nil
}

// setSnapshotLocked sets the snapshot key, for nodes in zone, at version;
// subsetted services get only the endpoints of their assignment's row
// (-1: every endpoint).
func (s *Server) setSnapshotLocked(key, zone string, version uint64, row int) error {
	claims := make([]types.Resource, 0, len(s.services))
	for _, svc := range s.services {
		// A service whose resolver has not answered yet has no
		// assignment: its clients wait for one (grpc-go up to its 15 s
		// does-not-exist timer) instead of failing calls on an empty one.
		if s.published[svc.Name] {
			locs := s.endpoints[svc.Name]
			if svc.Subset != nil && row >= 0 {
				locs = s.subsetOf(svc, locs, row)
			}
			claims = append(claims, assignment(svc, locs, zone))
		}
	}
	snap := &cachev3.Snapshot{Resources: s.static}
	snap.Resources[types.Endpoint] = cachev3.NewResources(strconv.FormatUint(version, 10), claims)
	// Consistent by construction: each service has its listener, route,
	// cluster and assignment. (Snapshot.Consistent does not see the route
	// an api_listener names, so it cannot check gRPC's listeners.)
	if err := s.cache.SetSnapshot(s.ctx, key, snap); err != nil {
		return fmt.Errorf("xds: set snapshot %q: %w", key, err)
	}
	return nil
}

// addZone gives zone a snapshot of its own, if it has none and there is
// room, before the cache looks for it: called on each request of a
// client, before its watch.
func (s *Server) addZone(zone string) {
	if zone == "" {
		return
	}
	s.knownMu.RLock()
	known := s.known[zoneKey(zone)]
	s.knownMu.RUnlock()
	if known {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || slices.Contains(s.zones, zone) {
		return
	}
	if len(s.zones) >= maxZones {
		s.log.Warn("xds: too many zones; this zone's nodes get the snapshot of nodes without a zone", "zone", zone, "max", maxZones)
		return
	}
	// At the current version: the endpoints are those of the other
	// snapshots; a later update moves every snapshot to the next.
	if err := s.setSnapshotLocked(zoneKey(zone), zone, s.version, -1); err != nil {
		s.log.Error("xds: cannot set a zone's snapshot; its nodes get the snapshot of nodes without a zone", "zone", zone, "error", err)
		return
	}
	s.zones = append(s.zones, zone)
	s.knownMu.Lock()
	s.known[zoneKey(zone)] = true
	s.knownMu.Unlock()
	s.log.Info("xds: first node of a zone", "zone", zone)
}

// nodeZone maps a node to its own snapshot when it has one (it takes
// subsets), else to its zone's, or to the snapshot of nodes without a zone
// when it has none (or its zone has no snapshot).
type nodeZone struct{ s *Server }

func (h nodeZone) ID(node *corepb.Node) string {
	h.s.knownMu.RLock()
	defer h.s.knownMu.RUnlock()
	if id := node.GetId(); id != "" && h.s.known[nodeKey(id)] {
		return nodeKey(id)
	}
	if zone := node.GetLocality().GetZone(); zone != "" && h.s.known[zoneKey(zone)] {
		return zoneKey(zone)
	}
	return snapshotKey
}
