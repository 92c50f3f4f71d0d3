package proxy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health follows the clusters: each upstream ClientConn's connectivity
// state is watched, and
//   - a routed service is SERVING while a cluster of one of its routes is
//     healthy, NOT_SERVING otherwise;
//   - the proxy as a whole (service "" and /readyz) is ready while a
//     config is loaded, it is not draining and at least one cluster is
//     healthy.
//
// A cluster is healthy while its channel is READY (at least one endpoint
// READY, for every grpclb policy and grpc-go's) or IDLE (it connects on
// the next call). One empty cluster among healthy ones does not make the
// proxy unready: that would take every proxy replica, and so every other
// route, out of service together.

// healthy reports whether u's channel can take calls now.
func (u *upstream) healthy() bool {
	s := u.state()
	return s == connectivity.Ready || s == connectivity.Idle
}

func (u *upstream) state() connectivity.State { return connectivity.State(u.connState.Load()) }

// watch follows u's channel state, calling changed after each change,
// until the channel is closed.
func (u *upstream) watch(changed func()) {
	u.connState.Store(int32(u.cc.GetState()))
	go func() {
		for {
			s := u.cc.GetState()
			u.connState.Store(int32(s))
			changed()
			if s == connectivity.Shutdown || !u.cc.WaitForStateChange(context.Background(), s) {
				return
			}
		}
	}()
}

// clusterHealth serialises the health updates of the watchers and of
// reloads.
type clusterHealth struct{ mu sync.Mutex }

// updateHealth sets the health of every routed service, and of the
// proxy, from the clusters of the config in use. Once the proxy drains,
// the health server ignores it (health.Server.Shutdown).
func (p *Proxy) updateHealth() {
	p.clusterHealth.mu.Lock()
	defer p.clusterHealth.mu.Unlock()
	st := p.state.Load()
	if st == nil {
		return
	}
	for _, svc := range st.routes.Services() {
		healthy := slices.ContainsFunc(st.routes.Routes(svc), func(r *route) bool { return r.upstream.healthy() })
		p.health.SetServingStatus(svc, servingStatus(healthy))
	}
	p.health.SetServingStatus("", servingStatus(st.anyHealthy()))
}

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

func (st *state) anyHealthy() bool {
	for _, u := range st.upstreams {
		if u.healthy() {
			return true
		}
	}
	return false
}

// readiness is /readyz's answer: ready, or why not.
func (p *Proxy) readiness() (bool, string) {
	st := p.state.Load()
	switch {
	case p.draining.Load():
		return false, "draining"
	case st == nil:
		return false, "no config loaded"
	case st.anyHealthy():
		return true, "ready"
	}
	var states []string
	for _, name := range slices.Sorted(maps.Keys(st.upstreams)) {
		states = append(states, fmt.Sprintf("%s %s", name, st.upstreams[name].state()))
	}
	return false, "no cluster has a healthy upstream (" + strings.Join(states, ", ") + ")"
}
