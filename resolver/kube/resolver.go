package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/resolver"
)

// kubeResolver is one ClientConn's resolver: a goroutine that turns the
// shared watch's slices into this target's endpoint set.
type kubeResolver struct {
	t      target
	cc     resolver.ClientConn
	log    *slog.Logger
	b      *Builder
	w      *watch
	wakeCh chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	published   []string // fingerprint of the last published set; nil: none
	reported    string   // the last error reported to the channel
	emptyNoted  bool
	problemsNow map[string]bool // problems logged and still present
}

func newResolver(t target, cc resolver.ClientConn, url string) *kubeResolver {
	return &kubeResolver{
		t:      t,
		cc:     cc,
		log:    t.opts.Logger.With("resolver", Scheme, "target", url),
		wakeCh: make(chan struct{}, 1),
	}
}

func (r *kubeResolver) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.run(ctx)
	r.w.subscribe(r)
}

// wake tells the run goroutine to read the watch again; it never blocks,
// and wake-ups that arrive while one is pending merge into it.
func (r *kubeResolver) wake() {
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

// ResolveNow does nothing: the watch reports every change, and the
// reflector retries by itself after failures.
func (*kubeResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close leaves the shared watch (stopping it if this was its last
// resolver) and waits for the resolver's goroutine.
func (r *kubeResolver) Close() {
	r.w.unsubscribe(r)
	r.cancel()
	r.wg.Wait()
	r.b.leave(r.w)
}

func (r *kubeResolver) run(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wakeCh:
		}
		r.apply(r.w.snapshot())
	}
}

// apply publishes what snap means for this target, if it changed.
func (r *kubeResolver) apply(snap snapshot) {
	if !snap.synced {
		// Nothing listed yet: the channel has no set, so tell it why calls
		// wait.
		if snap.err != nil && snap.err.Error() != r.reported {
			r.reported = snap.err.Error()
			r.cc.ReportError(fmt.Errorf("kubernetes: service %s: %w", r.w.key, snap.err))
		}
		return
	}
	set := endpointsFrom(snap.slices, r.t)
	r.logProblems(set.problems)
	if len(set.endpoints) == 0 {
		r.publishEmpty(snap, set)
		return
	}
	r.emptyNoted = false
	fp := fingerprint(set.endpoints)
	if r.published != nil && slices.Equal(fp, r.published) {
		return
	}
	state := resolver.State{Endpoints: set.endpoints}
	for _, ep := range set.endpoints {
		state.Addresses = append(state.Addresses, ep.Addresses...)
	}
	if err := r.cc.UpdateState(state); err != nil {
		r.log.Warn("kubernetes: the channel rejected the endpoint set", "endpoints", len(set.endpoints), "err", err)
	}
	r.published = fp
	r.reported = ""
	args := []any{"endpoints", len(set.endpoints), "ready", set.ready, "terminating", set.terminating, "not_ready", set.unusable, "slices", len(snap.slices)}
	if set.usedTerminating {
		r.log.Warn("kubernetes: no endpoint is ready; using the terminating endpoints that still serve", args...)
		return
	}
	r.log.Info("kubernetes: endpoint set changed", args...)
}

func (r *kubeResolver) publishEmpty(snap snapshot, set sliceSet) {
	why := fmt.Sprintf("service %s has no usable endpoint for port %s: %d EndpointSlices, %d endpoints not ready, %d terminating and no longer serving",
		r.w.key, r.t.port, len(snap.slices), set.unusable, set.terminating)
	if len(snap.slices) == 0 {
		why = fmt.Sprintf("service %s has no EndpointSlice (labelled kubernetes.io/service-name=%s): does the Service exist, in that namespace, with a selector?",
			r.w.key, r.w.key.service)
	}
	if r.t.opts.KeepLastOnEmpty && r.published != nil {
		if !r.emptyNoted {
			r.emptyNoted = true
			r.log.Warn("kubernetes: "+why+"; keeping the last set (empty=keep)", "endpoints", len(r.published))
		}
		return
	}
	if r.published != nil && len(r.published) == 0 {
		return // already published empty
	}
	if r.published == nil {
		// No set was ever published: report the error alone. An empty set
		// would build the policy's children from nothing, and grpc-go's
		// endpointsharding (under round_robin and most policies) then
		// answers "no children to pick from", dropping this message.
		if why != r.reported {
			r.reported = why
			r.log.Warn("kubernetes: " + why + "; no set published yet")
			r.cc.ReportError(fmt.Errorf("kubernetes: %s", why))
		}
		return
	}
	r.emptyNoted = true
	r.log.Warn("kubernetes: " + why + "; publishing the empty set")
	_ = r.cc.UpdateState(resolver.State{})
	r.published = []string{}
	// Say why, for the policies that show a resolver error to callers
	// (pick_first does; round_robin's callers see "no children to pick
	// from").
	r.reported = why
	r.cc.ReportError(fmt.Errorf("kubernetes: %s", why))
}

// logProblems logs each skipped slice or endpoint once while it stays
// wrong.
func (r *kubeResolver) logProblems(problems []string) {
	now := make(map[string]bool, len(problems))
	for _, p := range problems {
		now[p] = true
		if !r.problemsNow[p] {
			r.log.Warn("kubernetes: skipping " + p)
		}
	}
	r.problemsNow = now
}

// fingerprint is a comparable digest of a set: addresses and attributes.
// It is computed on every change of every slice, so it avoids fmt: with
// 10,000 endpoints, formatting Info with %+v took 10 ms a change.
func fingerprint(eps []resolver.Endpoint) []string {
	fp := make([]string, 0, len(eps))
	var b strings.Builder
	for _, ep := range eps {
		b.Reset()
		for _, a := range ep.Addresses {
			b.WriteString(a.Addr)
			b.WriteByte(',')
		}
		info, _ := InfoFromEndpoint(ep)
		for _, f := range [...]string{info.Namespace, info.Service, info.Kind, info.Name, info.Zone, info.NodeName, info.Hostname} {
			b.WriteString(f)
			b.WriteByte(0) // not in any of the fields (Kubernetes names and labels)
		}
		if info.Terminating {
			b.WriteByte('T')
		}
		fp = append(fp, b.String())
	}
	return fp
}
