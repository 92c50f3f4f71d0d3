package framerelay

import (
	"net"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpclb/grpclb/proxy/internal/ownreflection"
)

// healthPrefix is the method prefix of grpc.health.v1, which the relay
// answers itself unless a route claims it.
var healthPrefix = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// isLocalHealth reports whether method is one of grpc.health.v1's
// methods (Check, List, Watch): another method of the service gets the
// relay's own UNIMPLEMENTED, which names it, as any unrouted method does.
func isLocalHealth(method string) bool {
	name, ok := strings.CutPrefix(method, healthPrefix)
	if !ok {
		return false
	}
	sd := healthpb.Health_ServiceDesc
	return slices.ContainsFunc(sd.Methods, func(m grpc.MethodDesc) bool { return m.MethodName == name }) ||
		slices.ContainsFunc(sd.Streams, func(s grpc.StreamDesc) bool { return s.StreamName == name })
}

// isLocalReflection reports whether method is one of grpc.reflection's.
func isLocalReflection(method string) bool {
	for _, svc := range ownreflection.Services {
		if strings.HasPrefix(method, "/"+svc+"/") {
			return true
		}
	}
	return false
}

// local is the relay's own gRPC services (grpc.health.v1, and
// grpc.reflection for them if Config.Reflection): a grpc.Server
// on an in-memory listener, which the relay reaches the way it reaches
// any backend, as the one endpoint of a cluster of its own. So its calls
// are relayed like every other, with the same flow control and limits.
type local struct {
	srv    *grpc.Server
	lis    *bufconn.Listener
	health *health.Server
	cl     *cluster
	mu     sync.Mutex // serialises updateHealth
	// reflection: the relay answers grpc.reflection for its own services.
	reflection bool
}

// startLocal starts the relay's own services; the health of the routed
// ones follows their clusters.
func (r *Relay) startLocal(reflection bool) error {
	l := &local{srv: grpc.NewServer(), lis: bufconn.Listen(256 << 10), health: health.NewServer(), reflection: reflection}
	healthpb.RegisterHealthServer(l.srv, l.health)
	if reflection {
		ownreflection.Register(l.srv)
	}
	go l.srv.Serve(l.lis)
	cl, err := newPolicy(r, "framerelay-local", `[{"pick_first":{}}]`, func(string) (net.Conn, error) { return l.lis.Dial() })
	if err != nil {
		l.srv.Stop()
		return err
	}
	l.cl = cl
	r.local.Store(l)
	r.updateHealth()
	return (&resolverCC{c: cl}).UpdateState(resolver.State{Endpoints: []resolver.Endpoint{{Addresses: []resolver.Address{{Addr: "local"}}}}})
}

// updateHealth sets the health of every routed service from its
// clusters: SERVING if the policy of one of them has a backend to offer
// (READY), else NOT_SERVING; and of the relay as a whole ("") SERVING if
// any cluster is.
func (r *Relay) updateHealth() {
	l := r.local.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	anyOK := false
	for svc, cls := range r.table.Load().services {
		ok := false
		for _, cl := range cls {
			ok = ok || cl.ready()
		}
		anyOK = anyOK || ok
		l.health.SetServingStatus(svc, servingStatus(ok))
	}
	l.health.SetServingStatus("", servingStatus(anyOK))
}

// forgetHealth drops a service no route serves any more (a Reload took
// its routes away): its health is SERVICE_UNKNOWN.
func (r *Relay) forgetHealth(svc string) {
	if l := r.local.Load(); l != nil {
		l.mu.Lock()
		l.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
		l.mu.Unlock()
	}
}

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// localRoute returns the local cluster for a method of the relay's own
// services, nil for others.
func (r *Relay) localRoute(method string) *cluster {
	if l := r.local.Load(); l != nil && (isLocalHealth(method) || l.reflection && isLocalReflection(method)) {
		return l.cl
	}
	return nil
}

// stop ends the local services: health watchers first, so that the
// server's stop does not wait for their streams.
func (l *local) stop() {
	l.health.Shutdown()
	l.cl.close()
	l.srv.Stop()
}
