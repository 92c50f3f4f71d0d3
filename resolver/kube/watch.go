package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	failing bool  // the failure was logged; log the recovery
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
			w.noteResult(ctx, err)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watchapi.Interface, error) {
			opts.LabelSelector = selector
			wi, err := api.Watch(ctx, opts)
			if err != nil {
				w.noteResult(ctx, err)
			}
			return wi, err
		},
	}
	r := cache.NewReflectorWithOptions(lw, &discoveryv1.EndpointSlice{}, notifyingStore{w}, cache.ReflectorOptions{
		Name:            "grpclb " + key.String(),
		TypeDescription: "*v1.EndpointSlice",
		Backoff: &wait.Backoff{
			Duration: minBackoff,
			Cap:      o.MaxBackoff,
			Steps:    64,
			Factor:   2,
			Jitter:   0.5,
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		r.RunWithContext(ctx)
	}()
	return w
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
func (w *watch) noteResult(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping
	}
	w.mu.Lock()
	changed := (err == nil) != (w.lastErr == nil) || (err != nil && err.Error() != w.lastErr.Error())
	if err != nil {
		err = w.explain(err)
		if !w.failing {
			w.failing = true
			w.log.Warn("kubernetes: cannot list or watch EndpointSlices; keeping the last set and retrying", "synced", w.synced, "err", err)
		}
	} else if w.failing {
		w.failing = false
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
	if s.w.failing {
		s.w.failing = false
		s.w.log.Info("kubernetes: the API server answers again")
	}
	s.w.mu.Unlock()
	s.w.wakeAll()
	return err
}

func (notifyingStore) Resync() error { return nil }
