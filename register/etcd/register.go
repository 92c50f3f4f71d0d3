package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Defaults for the options.
const (
	DefaultTTL        = 10 * time.Second
	DefaultTimeout    = 5 * time.Second
	DefaultMaxBackoff = 5 * time.Second
	minBackoff        = 100 * time.Millisecond
)

// An Option changes a default of Register.
type Option func(*options)

type options struct {
	ttl        time.Duration
	metadata   any
	timeout    time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger
}

// WithTTL sets the lease's time to live: how long the instance stays
// registered after this process stops keeping the lease alive (a crash, a
// partition). Default 10s; at least 1s, and etcd raises it to its own
// minimum (2s with default settings). It is rounded up to whole seconds.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithMetadata sets the Metadata of the endpoints.Endpoint stored in etcd;
// it must marshal to JSON. grpclb's resolver/etcd hands it to balancers as
// an endpoint attribute (see resolver/etcd.InstanceFromEndpoint). Default
// none.
func WithMetadata(m any) Option { return func(o *options) { o.metadata = m } }

// WithTimeout bounds each etcd call: Register's first registration (with
// its ctx), every re-registration attempt, and Deregister (with its ctx).
// Default 5s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxBackoff caps the wait between re-registration attempts while etcd
// is unreachable. Attempts start 100ms apart and the wait doubles. Default
// 5s.
func WithMaxBackoff(d time.Duration) Option { return func(o *options) { o.maxBackoff = d } }

// WithLogger sets the logger for lease losses and re-registrations.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func (o options) check() error {
	switch {
	case o.ttl < time.Second:
		return fmt.Errorf("TTL %v is below 1s", o.ttl)
	case o.timeout <= 0:
		return fmt.Errorf("timeout %v is not positive", o.timeout)
	case o.maxBackoff < minBackoff:
		return fmt.Errorf("max backoff %v is below %v", o.maxBackoff, minBackoff)
	}
	return nil
}

// Registration is one address registered under a prefix, kept alive until
// Deregister or Stop.
type Registration struct {
	client *clientv3.Client
	em     endpoints.Manager
	key    string
	ep     endpoints.Endpoint
	opts   options
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when the keep-alive goroutine has ended

	mu           sync.Mutex
	lease        clientv3.LeaseID
	registered   int // successful registrations: 1, then +1 per re-registration
	deregistered bool
}

// Register registers addr (host:port) under prefix: it grants a lease with
// the TTL, puts the key prefix+"/"+addr with the value etcd's
// naming/endpoints package writes for endpoints.Endpoint{Addr: addr,
// Metadata: ...} attached to the lease, and keeps the lease alive in the
// background. ctx bounds only this first registration, which must succeed:
// Register returns an error when etcd cannot be reached.
//
// From then on the instance stays registered: when the lease is lost (etcd
// restarted without its data, the lease was revoked, or etcd could not be
// reached for a whole TTL) it is registered again with a new lease, retried
// until etcd answers. Call Deregister when the server stops serving, or
// pass it to server.Drain as a hook.
//
// A key deleted by hand (etcdctl del) stays deleted while the lease lives:
// deleting it is a way to take an instance out of rotation.
//
// The client is not closed by the Registration; closing it ends the
// keep-alive (the key then expires with its lease).
func Register(ctx context.Context, client *clientv3.Client, prefix, addr string, opts ...Option) (*Registration, error) {
	o := options{ttl: DefaultTTL, timeout: DefaultTimeout, maxBackoff: DefaultMaxBackoff, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if client == nil {
		return nil, errors.New("register: nil etcd client")
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if err := checkAddr(addr); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if _, err := json.Marshal(o.metadata); err != nil {
		return nil, fmt.Errorf("register: metadata does not marshal to JSON: %w", err)
	}
	em, err := endpoints.NewManager(client, prefix)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	r := &Registration{
		client: client,
		em:     em,
		key:    prefix + "/" + addr,
		ep:     endpoints.Endpoint{Addr: addr, Metadata: o.metadata},
		opts:   o,
		done:   make(chan struct{}),
	}
	r.log = o.logger.With("registry", "etcd", "key", r.key)
	// The keep-alive lives until Deregister, Stop or the client's Close.
	life, cancel := context.WithCancel(client.Ctx())
	rctx, rcancel := context.WithTimeout(ctx, o.timeout)
	defer rcancel()
	ka, err := r.register(rctx, life)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("register: %s: %w", r.key, err)
	}
	r.cancel = cancel
	go r.run(life, ka)
	return r, nil
}

// Key is the etcd key of the registration, prefix + "/" + addr.
func (r *Registration) Key() string { return r.key }

// Lease is the current lease; it changes when the instance is registered
// again after the lease was lost.
func (r *Registration) Lease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// Registrations counts how many times the key was put: 1 after Register,
// one more per re-registration after a lost lease.
func (r *Registration) Registrations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered
}

// register grants a lease, puts the key on it and starts keeping it alive
// until life ends.
func (r *Registration) register(ctx, life context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	ttl := int64(math.Ceil(r.opts.ttl.Seconds()))
	g, err := r.client.Grant(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("granting a lease: %w", err)
	}
	if err := r.em.AddEndpoint(ctx, r.key, r.ep, clientv3.WithLease(g.ID)); err != nil {
		r.revoke(life, g.ID)
		return nil, fmt.Errorf("putting the key: %w", err)
	}
	ka, err := r.client.KeepAlive(life, g.ID)
	if err != nil {
		r.revoke(life, g.ID)
		return nil, fmt.Errorf("keeping the lease alive: %w", err)
	}
	r.mu.Lock()
	r.lease = g.ID
	r.registered++
	r.mu.Unlock()
	return ka, nil
}

// run drains keep-alive responses and registers again whenever the lease
// is lost, until life ends.
func (r *Registration) run(life context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(r.done)
	for {
		for range ka {
			// Responses must be read, or the client's queue fills up.
		}
		if life.Err() != nil {
			return
		}
		old := r.Lease()
		r.log.Warn("register: lease lost; registering again", "lease", fmt.Sprintf("%x", int64(old)))
		bo := resolvercore.Backoff{Min: minBackoff, Max: r.opts.maxBackoff}
		for {
			ctx, cancel := context.WithTimeout(life, r.opts.timeout)
			var err error
			ka, err = r.register(ctx, life)
			cancel()
			if err == nil {
				break
			}
			if life.Err() != nil {
				return
			}
			wait := bo.Next()
			r.log.Warn("register: registering again failed; retrying", "err", err, "in", wait.Round(time.Millisecond))
			if !resolvercore.Sleep(life, wait) {
				return
			}
		}
		r.log.Info("register: registered again", "lease", fmt.Sprintf("%x", int64(r.Lease())))
		// The key has moved to the new lease; the old one (which etcd may
		// still hold, if it only was unreachable) guards nothing now.
		r.revoke(life, old)
	}
}

// revoke revokes a lease, best effort, giving up when life ends.
func (r *Registration) revoke(life context.Context, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(life, r.opts.timeout)
	defer cancel()
	if _, err := r.client.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		r.log.Debug("register: revoking an old lease failed; it will expire", "lease", fmt.Sprintf("%x", int64(id)), "err", err)
	}
}

// Stop stops keeping the lease alive and returns without touching etcd:
// the instance disappears when the lease expires, within the TTL, as if
// the process had crashed. Prefer Deregister.
func (r *Registration) Stop() {
	r.cancel()
	<-r.done
}

// Deregister stops keeping the lease alive, deletes the key (if it is
// still this registration's) and revokes the lease, so resolvers drop the
// instance at once. It gives up when ctx ends or after the timeout
// (WithTimeout), whichever comes first; the instance then disappears
// within the TTL anyway. Calling it again after it succeeded does
// nothing.
//
// Its type fits server.DrainConfig.OnNotServing, which calls it after the
// server turned NOT_SERVING and before the grace period:
//
//	server.DrainConfig{OnNotServing: []func(context.Context) error{reg.Deregister}}
func (r *Registration) Deregister(ctx context.Context) error {
	r.Stop()
	r.mu.Lock()
	lease, done := r.lease, r.deregistered
	r.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	// Delete only a key on this registration's lease: another process may
	// have registered the same address since.
	_, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", lease)).
		Then(clientv3.OpDelete(r.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("register: deregistering %s: deleting the key: %w", r.key, err)
	}
	if _, err := r.client.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("register: deregistering %s: revoking lease %x: %w", r.key, int64(lease), err)
	}
	r.mu.Lock()
	r.deregistered = true
	r.mu.Unlock()
	r.log.Info("register: deregistered")
	return nil
}

// checkPrefix applies the rules of resolver/etcd's targets: not empty, no
// '/' at the end (it is added), no empty segment.
func checkPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("empty prefix")
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("prefix %q ends with '/'; the key is prefix + \"/\" + addr", p)
	case strings.Contains(p, "//"):
		return fmt.Errorf("prefix %q has an empty path segment", p)
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("prefix %q has a control character", p)
	}
	return nil
}

// checkAddr accepts host:port with a port from 1 to 65535.
func checkAddr(a string) error {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", a)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '+' {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", a, p)
	}
	if h == "" || strings.ContainsFunc(h, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) || c == '/' }) {
		return fmt.Errorf("address %q has an empty or invalid host", a)
	}
	return nil
}
