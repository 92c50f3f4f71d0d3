package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	watchapi "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

type watchKey struct{ namespace, service string }

func (k watchKey) String() string { return k.namespace + "/" + k.service }

// watch follows the EndpointSlices of one service with a client-go
// Reflector, and wakes its subscribers (resolvers) on every change.
type watch struct {
	key    watchKey
	log    *slog.Logger
	store  cache.Store
	cancel context.CancelFunc
	done   chan struct{}
	refs   int // guarded by Builder.mu

	mu      sync.Mutex
	subs    map[*kubeResolver]struct{}
	synced  bool  // a full list has been stored
	lastErr error // the last list or watch error; nil after a success
	// The problem logged last, once, until a success clears it: a
	// success of the same call, or any success if the problem was not
	// reaching the API server at all.
	logged      string
	loggedCall  string // "list" or "watch"
	loggedReach bool   // the server could not be reached
}

// snapshot is what a subscriber reads after a wake-up.
type snapshot struct {
	slices []*discoveryv1.EndpointSlice
	synced bool
	err    error
}

func startWatch(key watchKey, client kubernetes.Interface, o Options) *watch {
	w := &watch{
		key:   key,
		log:   o.Logger.With("resolver", Scheme, "service", key.String()),
		store: cache.NewStore(cache.MetaNamespaceKeyFunc),
		done:  make(chan struct{}),
		subs:  make(map[*kubeResolver]struct{}),
	}
	selector := discoveryv1.LabelServiceName + "=" + key.service
	api := client.DiscoveryV1().EndpointSlices(key.namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = selector
			list, err := api.List(ctx, opts)
			w.noteResult(ctx, "list", err)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watchapi.Interface, error) {
			opts.LabelSelector = selector
			wi, err := api.Watch(ctx, opts)
			w.noteResult(ctx, "watch", err)
			return wi, err
		},
	}
	r := cache.NewReflectorWithOptions(lw, &discoveryv1.EndpointSlice{}, notifyingStore{w}, cache.ReflectorOptions{
		Name:            "grpclb " + key.String(),
		TypeDescription: "*v1.EndpointSlice",
		// The reflector's own waits, between attempts to start a watch
		// that could not connect (the API server down or restarting) and
		// after a 429 that outlasted the REST client's own retries: short,
		// so that a restarted server is noticed within half a second; a
		// refused connection costs it nothing.
		Backoff: &wait.Backoff{
			Duration: minBackoff,
			Cap:      min(watchRetryCap, o.MaxBackoff),
			Steps:    64,
			Factor:   2,
			Jitter:   0.5,
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		w.run(ctx, r, o.MaxBackoff)
	}()
	return w
}

// watchRetryCap caps the reflector's waits between attempts to start a
// watch.
const watchRetryCap = 500 * time.Millisecond

// run lists and watches until ctx ends, in place of the reflector's Run:
//   - a watch that ended (its resource version too old after an API server
//     restart or a compaction: 410 Gone; or closed by the server) is
//     followed by a new list at once, after minBackoff;
//   - so is a list whose connection was refused (the server is restarting;
//     trying again costs it nothing), so that a restarted API server is
//     listed from within half a second of answering;
//   - any other failure (the server answered with an error, or could not be
//     reached in time) by a backoff doubling from minBackoff to maxBackoff.
//
// Reflector.Run waits one growing backoff in every case, so a change
// written right after an API server restart reached clients up to two full
// backoffs (about 9 s) late.
func (w *watch) run(ctx context.Context, r *cache.Reflector, maxBackoff time.Duration) {
	failures := 0
	for {
		err := r.ListAndWatchWithContext(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil || isExpired(err):
			failures = 0
		case utilnet.IsConnectionRefused(err):
			failures = 0
		default:
			failures++
		}
		t := time.NewTimer(retryDelay(failures, maxBackoff, rand.Float64()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryDelay is the wait before listing again after failures failed
// attempts in a row: minBackoff doubled per failure up to maxBackoff, plus
// up to half of it as jitter (r in [0, 1)).
func retryDelay(failures int, maxBackoff time.Duration, r float64) time.Duration {
	d := minBackoff
	for range failures {
		if d >= maxBackoff/2 {
			d = maxBackoff
			break
		}
		d *= 2
	}
	d = min(d, maxBackoff)
	return d + time.Duration(r*float64(d)/2)
}

// isExpired reports an error that only says a watch must start again from
// a new list: the resource version it asked for is gone.
func isExpired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// stop ends the watch and waits for its reflector.
func (w *watch) stop() {
	w.cancel()
	<-w.done
}

func (w *watch) subscribe(r *kubeResolver) {
	w.mu.Lock()
	w.subs[r] = struct{}{}
	w.mu.Unlock()
	r.wake()
}

func (w *watch) unsubscribe(r *kubeResolver) {
	w.mu.Lock()
	delete(w.subs, r)
	w.mu.Unlock()
}

// snapshot returns the service's slices as they are now.
func (w *watch) snapshot() snapshot {
	w.mu.Lock()
	s := snapshot{synced: w.synced, err: w.lastErr}
	w.mu.Unlock()
	for _, obj := range w.store.List() {
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
			s.slices = append(s.slices, es)
		}
	}
	return s
}

func (w *watch) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r := range w.subs {
		r.wake()
	}
}

// noteResult records the outcome of a list or the start of a watch. The
// last good set stays in the store whatever happens; errors only matter to
// resolvers that have published nothing yet.
//
// Each problem is logged once (a WARN), and its end once (an INFO): a list
// that succeeds does not end a watch the server refuses (RBAC without the
// watch verb), so that case logs one line, not a pair every cycle. A 410
// Gone is no problem: the watch starts again from a new list.
func (w *watch) noteResult(ctx context.Context, call string, err error) {
	if ctx.Err() != nil || (err != nil && isExpired(err)) {
		return // stopping, or a normal end of a watch
	}
	w.mu.Lock()
	changed := (err == nil) != (w.lastErr == nil) || (err != nil && err.Error() != w.lastErr.Error())
	if err != nil {
		var se *apierrors.StatusError
		reach := !errors.As(err, &se)
		err = w.explain(err)
		if msg := err.Error(); msg != w.logged {
			w.logged, w.loggedCall, w.loggedReach = msg, call, reach
			w.log.Warn("kubernetes: cannot list or watch EndpointSlices; keeping the last set and retrying", "call", call, "synced", w.synced, "err", err)
		}
	} else if w.logged != "" && (w.loggedReach || w.loggedCall == call) {
		w.logged = ""
		w.log.Info("kubernetes: the API server answers again")
	}
	w.lastErr = err
	w.mu.Unlock()
	if changed {
		w.wakeAll()
	}
}

// explain makes an API error say what to do about it.
func (w *watch) explain(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden to list and watch EndpointSlices in namespace %q: the client's identity needs the verbs get, list and watch on the resource endpointslices in the API group discovery.k8s.io in that namespace (a Role and RoleBinding like deploy/kubernetes/base/rbac.yaml): %w", w.key.namespace, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server rejected the client's credentials (expired or wrong token?): %w", err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the API server does not serve discovery.k8s.io/v1 EndpointSlices (Kubernetes 1.21 or later is needed): %w", err)
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("the API server answered %d %s: %w", se.ErrStatus.Code, se.ErrStatus.Reason, err)
	}
	return fmt.Errorf("cannot reach the API server: %w", err)
}

// notifyingStore is the reflector's store: a plain store that wakes the
// watch's subscribers after every change.
type notifyingStore struct{ w *watch }

func (s notifyingStore) Add(obj any) error {
	err := s.w.store.Add(obj)
	s.w.wakeAll()
	return err
}

func (s notifyingStore) Update(obj any) error {
	err := s.w.store.Update(obj)
	s.w.wakeAll()
	return err
}

func (s notifyingStore) Delete(obj any) error {
	err := s.w.store.Delete(obj)
	s.w.wakeAll()
	return err
}

// Replace is a full list: the first one makes the watch synced.
func (s notifyingStore) Replace(list []any, rv string) error {
	err := s.w.store.Replace(list, rv)
	s.w.mu.Lock()
	s.w.synced = true
	s.w.lastErr = nil
	s.w.mu.Unlock()
	s.w.wakeAll()
	return err
}

func (notifyingStore) Resync() error { return nil }
