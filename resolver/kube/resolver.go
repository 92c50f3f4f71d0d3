package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// kubeResolver is one ClientConn's resolver: a goroutine that turns the
// shared watch's slices into this target's endpoint set.
type kubeResolver struct {
	t      target
	log    *slog.Logger
	b      *Builder
	w      *watch
	wakeCh resolvercore.Wake
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	pub      *resolvercore.Publisher
	problems *resolvercore.Problems // skipped slices and endpoints, logged once each
	memo     *sliceMemo             // what each slice yields, by version
}

func newResolver(t target, cc resolver.ClientConn, url string) *kubeResolver {
	log := t.opts.Logger.With("resolver", Scheme, "target", url)
	return &kubeResolver{
		t:        t,
		log:      log,
		wakeCh:   resolvercore.NewWake(),
		pub:      resolvercore.NewPublisher(cc, resolvercore.Config{Name: "kubernetes", Source: "listing", PublishEmpty: !t.opts.KeepLastOnEmpty, Logger: log}),
		problems: resolvercore.NewProblems(log),
		memo:     newSliceMemo(),
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
func (r *kubeResolver) wake() { r.wakeCh.Signal() }

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
		if snap.err != nil {
			r.pub.Fail(fmt.Errorf("kubernetes: service %s: %w", r.w.key, snap.err))
		}
		return
	}
	set := r.memo.endpointsFrom(snap.slices, r.t)
	for _, p := range set.problems {
		r.problems.Note(p, "kubernetes: skipping "+p)
	}
	r.problems.Done()
	if len(set.endpoints) == 0 {
		why := fmt.Errorf("kubernetes: service %s has no usable endpoint for port %s: %d EndpointSlices, %d endpoints not ready, %d terminating and no longer serving",
			r.w.key, r.t.port, len(snap.slices), set.unusable, set.terminating)
		if len(snap.slices) == 0 {
			why = fmt.Errorf("kubernetes: service %s has no EndpointSlice (labelled kubernetes.io/service-name=%s): does the Service exist, in that namespace, with a selector?",
				r.w.key, r.w.key.service)
		}
		r.pub.Empty(why)
		return
	}
	args := []any{"ready", set.ready, "terminating", set.terminating, "not_ready", set.unusable, "slices", len(snap.slices)}
	if r.pub.Publish(set.endpoints, set.fingerprints, args...) && set.usedTerminating {
		r.log.Warn("kubernetes: no endpoint is ready; using the terminating endpoints that still serve", args...)
	}
}
