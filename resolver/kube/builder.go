package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc/resolver"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Scheme is the target scheme this package registers:
// kubernetes:///service.namespace:port.
const Scheme = "kubernetes"

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func init() {
	resolver.Register(NewBuilder(Options{}))
}

// Builder builds Kubernetes resolvers. All the resolvers of one Builder
// share one Kubernetes client and one watch per (namespace, service): a
// hundred ClientConns to the same service cost the API server one watch.
// The builder registered for the "kubernetes" scheme is process-wide.
type Builder struct {
	opts Options

	clientOnce sync.Once
	client     kubernetes.Interface
	defaultNS  string
	clientErr  error

	mu      sync.Mutex
	watches map[watchKey]*watch
}

// NewBuilder returns a builder whose resolvers use opts as defaults (query
// parameters in a target still override them). Pass it to grpc.NewClient
// with grpc.WithResolvers to use a kubeconfig, a client or options other
// than the defaults.
func NewBuilder(opts Options) *Builder {
	return &Builder{opts: opts, watches: make(map[watchKey]*watch)}
}

// Scheme returns "kubernetes".
func (*Builder) Scheme() string { return Scheme }

// Build starts (or joins) the watch of the target's service.
func (b *Builder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	pt, err := parseTarget(t.URL, b.opts)
	if err == nil {
		pt.opts, err = pt.opts.withDefaults()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: target %q: %w", t.URL.String(), err)
	}
	client, defaultNS, err := b.clientAndNamespace()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: target %q: %w", t.URL.String(), err)
	}
	if pt.namespace == "" {
		pt.namespace = defaultNS
	}
	r := newResolver(pt, cc, t.URL.String())
	r.b = b
	r.w = b.join(watchKey{pt.namespace, pt.service}, client, pt.opts)
	r.start()
	return r, nil
}

// clientAndNamespace makes the builder's client on first use.
func (b *Builder) clientAndNamespace() (kubernetes.Interface, string, error) {
	b.clientOnce.Do(func() {
		b.client, b.defaultNS, b.clientErr = newClient(b.opts)
	})
	return b.client, b.defaultNS, b.clientErr
}

// newClient makes the client Options describe, and finds the default
// namespace.
func newClient(o Options) (kubernetes.Interface, string, error) {
	ns := o.Namespace
	podNS := func() string {
		if data, err := os.ReadFile(serviceAccountNamespace); err == nil {
			return strings.TrimSpace(string(data))
		}
		return ""
	}
	fallbackNS := func(n string) {
		if ns == "" {
			ns = n
		}
		if ns == "" {
			ns = "default"
		}
	}
	if o.Client != nil {
		fallbackNS(podNS())
		return o.Client, ns, nil
	}
	cfg := o.Config
	switch {
	case cfg != nil:
		fallbackNS(podNS())
	case o.Kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster configuration: %w", err)
		}
		cfg = c
		fallbackNS(podNS())
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if o.Kubeconfig != "" {
			rules.ExplicitPath = o.Kubeconfig
		}
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
		c, err := loader.ClientConfig()
		if err != nil {
			if clientcmd.IsEmptyConfig(err) {
				return nil, "", errors.New("no cluster configuration: not in a pod (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig (set KUBECONFIG, or Options.Kubeconfig, Config or Client)")
			}
			return nil, "", fmt.Errorf("kubeconfig: %w", err)
		}
		cfg = c
		if n, _, err := loader.Namespace(); err == nil {
			fallbackNS(n)
		} else {
			fallbackNS("")
		}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "grpclb-kubernetes-resolver"
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("making a client: %w", err)
	}
	return client, ns, nil
}

// join returns the watch of key, starting it if no resolver watches the
// service yet. The first resolver's MaxBackoff and Logger are the watch's.
func (b *Builder) join(key watchKey, client kubernetes.Interface, o Options) *watch {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.watches[key]
	if !ok {
		w = startWatch(key, client, o)
		b.watches[key] = w
	}
	w.refs++
	return w
}

// leave drops one reference to w, stopping it with the last one.
func (b *Builder) leave(w *watch) {
	b.mu.Lock()
	w.refs--
	last := w.refs == 0
	if last {
		delete(b.watches, w.key)
	}
	b.mu.Unlock()
	if last {
		w.stop()
	}
}

// Watches is the number of services the builder watches now: one per
// (namespace, service) however many ClientConns resolve it.
func (b *Builder) Watches() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.watches)
}
