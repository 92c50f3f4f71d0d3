package framerelay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/proxy/internal/routing"
)

// table is one config's routes, clusters and observer. It never changes:
// Reload swaps in a new one, and each call keeps the one it started with.
type table struct {
	routes   *routing.Table[route] // nil: every call goes to all (New)
	all      *cluster
	clusters []*cluster // in the order of their first route
	byName   map[string]*cluster
	// services maps each routed service to its routes' clusters, whose
	// policies its health follows.
	services map[string][]*cluster
	obs      Observer
	// timed: obs is a real observer, so calls are timed (a call's start
	// costs a clock read only when someone listens).
	timed bool
}

// route is a Route bound to its cluster.
type route struct {
	prefix  string
	cl      *cluster
	timeout time.Duration // caps the calls' deadline; 0: none
	index   int           // in Config.Routes; -1 for the relay's own services
	retry   *RetryPolicy  // with defaults; nil: no retries
	hedge   *hedge.Hedger // nil: no hedging
}

// checkPrefix accepts "/pkg.Svc/" and "/pkg.Svc/MethodPrefix".
func checkPrefix(p string) error {
	svc, method, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !strings.HasPrefix(p, "/") || !ok || svc == "" || strings.Contains(method, "/") {
		return fmt.Errorf("prefix %q: want /package.Service/ or /package.Service/MethodPrefix", p)
	}
	return nil
}

// newTable builds cfg's routes and clusters, reusing the clusters of old
// that keep their name and Key; made is the clusters it built. On error
// it closes them again.
func (r *Relay) newTable(cfg Config, old *table) (t *table, made []*cluster, err error) {
	t = &table{byName: map[string]*cluster{}, services: map[string][]*cluster{}, obs: cfg.Observer, timed: cfg.Observer != nil}
	if t.obs == nil {
		t.obs = noObserver{}
	}
	defer func() {
		if err != nil {
			for _, cl := range made {
				cl.close()
			}
		}
	}()
	seen := map[string]int{}
	var routes []route
	for i, rt := range cfg.Routes {
		if err := checkPrefix(rt.Prefix); err != nil {
			return nil, made, fmt.Errorf("framerelay: routes[%d]: %w", i, err)
		}
		if j, dup := seen[rt.Prefix]; dup {
			return nil, made, fmt.Errorf("framerelay: routes[%d]: prefix %s is also routes[%d]'s", i, rt.Prefix, j)
		}
		seen[rt.Prefix] = i
		spec, ok := cfg.Clusters[rt.Cluster]
		if !ok {
			return nil, made, fmt.Errorf("framerelay: routes[%d]: cluster %q is not defined", i, rt.Cluster)
		}
		if rt.Timeout < 0 {
			return nil, made, fmt.Errorf("framerelay: routes[%d]: negative timeout %v", i, rt.Timeout)
		}
		cl := t.byName[rt.Cluster]
		if cl == nil {
			if prev := old.cluster(rt.Cluster); prev != nil && spec.Key != "" && prev.key == spec.Key {
				cl = prev
			} else {
				if cl, err = newCluster(r, rt.Cluster, spec); err != nil {
					return nil, made, fmt.Errorf("framerelay: clusters.%s: %w", rt.Cluster, err)
				}
				made = append(made, cl)
			}
			t.byName[rt.Cluster] = cl
			t.clusters = append(t.clusters, cl)
		}
		var retry *RetryPolicy
		if rt.Retry != nil {
			if retry = rt.Retry.withDefaults(); retry.check() != nil {
				return nil, made, fmt.Errorf("framerelay: routes[%d]: %w", i, retry.check())
			}
		}
		if retry != nil && rt.Hedge != nil {
			return nil, made, fmt.Errorf("framerelay: routes[%d]: set one of Retry and Hedge, not both", i)
		}
		routes = append(routes, route{prefix: rt.Prefix, cl: cl, timeout: rt.Timeout, index: i, retry: retry, hedge: rt.Hedge})
		svc, _, _ := strings.Cut(rt.Prefix[1:], "/")
		t.services[svc] = append(t.services[svc], cl)
	}
	if len(routes) == 0 {
		return nil, made, errors.New("framerelay: no routes (every call would be refused)")
	}
	t.routes = routing.NewTable(routes, func(rt route) string { return rt.prefix })
	return t, made, nil
}

// observer is the observer of the table in use (none before the first).
func (r *Relay) observer() Observer {
	if t := r.table.Load(); t != nil {
		return t.obs
	}
	return noObserver{}
}

// cluster returns t's cluster name, nil if none (or no t).
func (t *table) cluster(name string) *cluster {
	if t == nil {
		return nil
	}
	return t.byName[name]
}

// route finds the route of a call to method in t.
func (r *Relay) route(t *table, method string) (route, error) {
	if err := routing.CheckMethodPath(method); err != nil {
		return route{}, status.Errorf(codes.Unimplemented, "framerelay: %v", err)
	}
	if t.routes == nil {
		return route{cl: t.all}, nil
	}
	if rt, ok := t.routes.Match(method); ok {
		return rt, nil
	}
	if cl := r.localRoute(method); cl != nil {
		return route{cl: cl, index: -1}, nil
	}
	return route{}, status.Errorf(codes.Unimplemented, "framerelay: no route for method %s", method)
}

// routeCall routes a call to method under the table in use and counts it
// as a call of its cluster (see retire): the call must end with
// link.finish, which counts it out.
func (r *Relay) routeCall(method string) (*table, route, error) {
	for {
		t := r.table.Load()
		rt, err := r.route(t, method)
		if err != nil {
			return t, rt, err
		}
		rt.cl.calls.Add(1)
		if !rt.cl.retired.Load() {
			return t, rt, nil
		}
		rt.cl.callEnded() // a Reload retired it meanwhile: its table is gone too
	}
}

// callEnded counts a call of c out, and closes c if it was its last call
// and a Reload retired it.
func (c *cluster) callEnded() {
	if c.calls.Add(-1) == 0 && c.retired.Load() {
		c.r.closeRetired(c)
	}
}

// Reload swaps in cfg's routes, clusters and observer at once: calls that
// start after it use them; calls in flight finish on the clusters they
// started on, and a cluster no longer in use is closed after its last
// call. A cluster of the same name and the same non-empty Key as before
// is kept, connections and all. Limits, Reflection and Logger are the
// relay's own: cfg's are not used. On error the relay goes on as it was.
func (r *Relay) Reload(cfg Config) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	old := r.table.Load()
	if old.routes == nil {
		return errors.New("framerelay: a relay without routes (New) does not reload")
	}
	t, made, err := r.newTable(cfg, old)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		for _, cl := range made {
			cl.close()
		}
		return errors.New("framerelay: reload after Close")
	}
	r.table.Store(t)
	var retire []*cluster
	for _, cl := range old.clusters {
		if t.cluster(cl.name) != cl {
			retire = append(retire, cl)
			r.retired[cl] = struct{}{}
		}
	}
	r.mu.Unlock()
	for svc := range old.services {
		if _, ok := t.services[svc]; !ok {
			r.forgetHealth(svc)
		}
	}
	r.updateHealth()
	for _, cl := range retire {
		cl.retired.Store(true)
		if cl.calls.Load() == 0 {
			r.closeRetired(cl)
		}
	}
	return nil
}

// closeRetired closes a retired cluster (its last call ended).
func (r *Relay) closeRetired(cl *cluster) {
	r.mu.Lock()
	_, ok := r.retired[cl]
	delete(r.retired, cl)
	r.mu.Unlock()
	if ok {
		go cl.close() // not on the goroutine of the call that ended
	}
}

// closeClusters closes every cluster, in use or retired.
func (r *Relay) closeClusters() {
	r.mu.Lock()
	retired := r.retired
	r.retired = map[*cluster]struct{}{}
	r.mu.Unlock()
	for cl := range retired {
		cl.close()
	}
	if t := r.table.Load(); t != nil {
		for _, cl := range t.clusters {
			cl.close()
		}
	}
}
