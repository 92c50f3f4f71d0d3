package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/consul/api"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Defaults for the options.
const (
	DefaultInterval   = 5 * time.Second
	DefaultResync     = 5 * time.Second
	DefaultTimeout    = 5 * time.Second
	DefaultMaxBackoff = 5 * time.Second
	minBackoff        = 100 * time.Millisecond
)

// Service is what is registered: one instance of a service.
type Service struct {
	// Name is the service name clients resolve (consul://agent/Name).
	Name string
	// ID identifies the instance on its agent. Default Name + "-" +
	// Address:Port.
	ID string
	// Address is the IP address or host name clients dial. Empty means
	// the node's address (Consul's rule).
	Address string
	// Port is the port clients dial, 1 to 65535.
	Port int
	// Tags and Meta are registered as given; resolver/consul filters on
	// tags and hands both to balancers.
	Tags []string
	Meta map[string]string
}

// An Option changes a default of Register.
type Option func(*options)

type options struct {
	interval       time.Duration
	ttl            time.Duration
	checkAddr      string
	healthService  string
	checkTimeout   time.Duration
	deregisterAt   time.Duration
	initialPassing bool
	resync         time.Duration
	timeout        time.Duration
	maxBackoff     time.Duration
	logger         *slog.Logger
}

// WithGRPCCheck makes the agent check the server with grpc.health.v1
// every interval (the default, every 5s). The check passes only while
// the server answers SERVING, so a server switched to NOT_SERVING (for
// example by server.Drain) leaves the passing set within an interval.
func WithGRPCCheck(interval time.Duration) Option {
	return func(o *options) { o.interval, o.ttl = interval, 0 }
}

// WithTTLCheck replaces the gRPC check by a TTL check that Register keeps
// passing from a goroutine (every ttl/3): the instance turns critical
// when this process stops (or cannot reach the agent) for a whole TTL. Use
// it when the agent cannot reach the server's port.
func WithTTLCheck(ttl time.Duration) Option {
	return func(o *options) { o.ttl, o.interval = ttl, 0 }
}

// WithCheckAddress sets the address the agent's gRPC check dials,
// host:port. Default Service.Address:Port (127.0.0.1:Port when Address is
// empty, for an agent on the same host).
func WithCheckAddress(addr string) Option { return func(o *options) { o.checkAddr = addr } }

// WithHealthService sets the service name of the grpc.health.v1 Check
// request. Default "": the server as a whole.
func WithHealthService(name string) Option { return func(o *options) { o.healthService = name } }

// WithCheckTimeout bounds one gRPC check. Default: the interval, at least
// 1s and at most 10s (Consul's default).
func WithCheckTimeout(d time.Duration) Option { return func(o *options) { o.checkTimeout = d } }

// WithDeregisterCriticalAfter makes Consul remove the instance after its
// check was critical for d (Consul's floor is 1m), so a server that died
// without deregistering does not stay listed forever. Default: never.
func WithDeregisterCriticalAfter(d time.Duration) Option {
	return func(o *options) { o.deregisterAt = d }
}

// WithInitialPassing registers the gRPC check as passing instead of
// critical (Consul's default), so clients see the instance at once rather
// than after the first check (which Consul runs at a random time within
// the first interval). Use it when Register is called once the server
// serves. A TTL check is always made passing right after registering.
func WithInitialPassing() Option { return func(o *options) { o.initialPassing = true } }

// WithResync sets how often the registration checks, with gRPC checks,
// that the agent still knows the instance, and registers it again when it
// does not (an agent restarted without its state). Default 5s. With a TTL
// check the TTL updates (every ttl/3) detect it instead.
func WithResync(d time.Duration) Option { return func(o *options) { o.resync = d } }

// WithTimeout bounds each agent call: Register's first registration (with
// its ctx), every later call, and Deregister (with its ctx). Default 5s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxBackoff caps the wait between attempts while the agent is
// unreachable. Attempts start 100ms apart and the wait doubles. Default 5s.
func WithMaxBackoff(d time.Duration) Option { return func(o *options) { o.maxBackoff = d } }

// WithLogger sets the logger for re-registrations and agent failures.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func (o options) check() error {
	switch {
	case o.interval == 0 && o.ttl == 0:
		return errors.New("no check")
	case o.interval < 0 || (o.interval > 0 && o.interval < 10*time.Millisecond):
		return fmt.Errorf("check interval %v is below 10ms", o.interval)
	case o.ttl < 0 || (o.ttl > 0 && o.ttl < 100*time.Millisecond):
		return fmt.Errorf("TTL %v is below 100ms", o.ttl)
	case o.resync <= 0:
		return fmt.Errorf("resync %v is not positive", o.resync)
	case o.timeout <= 0:
		return fmt.Errorf("timeout %v is not positive", o.timeout)
	case o.maxBackoff < minBackoff:
		return fmt.Errorf("max backoff %v is below %v", o.maxBackoff, minBackoff)
	case o.checkTimeout < 0 || o.deregisterAt < 0:
		return errors.New("negative check timeout or deregistration delay")
	}
	return nil
}

// Registration is one instance registered with an agent, kept registered
// until Deregister or Stop.
type Registration struct {
	client *api.Client
	svc    Service
	opts   options
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when the background goroutine has ended

	mu           sync.Mutex
	registered   int    // successful registrations: 1, then +1 per re-registration
	lastStatus   string // the aggregated check status last seen
	deregistered bool
}

// Register registers svc with the agent of client, with a gRPC health
// check (default) or a TTL check, and keeps it registered in the
// background. ctx bounds only this first registration, which must succeed:
// Register returns an error when the agent cannot be reached.
//
// When the agent loses the instance (it restarted without its state, or
// someone deregistered it by hand) the instance is registered again as
// soon as the agent answers, within WithResync (gRPC checks) or a third of
// the TTL (TTL checks). Call Deregister when the server stops serving, or
// pass it to server.Drain as a hook.
func Register(ctx context.Context, client *api.Client, svc Service, opts ...Option) (*Registration, error) {
	o := options{
		interval:   DefaultInterval,
		resync:     DefaultResync,
		timeout:    DefaultTimeout,
		maxBackoff: DefaultMaxBackoff,
		logger:     slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if client == nil {
		return nil, errors.New("register: nil Consul client")
	}
	if err := checkService(&svc); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if o.checkAddr == "" {
		host := svc.Address
		if host == "" {
			host = "127.0.0.1"
		}
		o.checkAddr = net.JoinHostPort(host, strconv.Itoa(svc.Port))
	}
	r := &Registration{
		client: client,
		svc:    svc,
		opts:   o,
		done:   make(chan struct{}),
	}
	r.log = o.logger.With("registry", "consul", "service", svc.Name, "id", svc.ID)
	status := api.HealthCritical
	if o.initialPassing || o.ttl > 0 {
		status = api.HealthPassing
	}
	rctx, rcancel := context.WithTimeout(ctx, o.timeout)
	defer rcancel()
	if err := r.register(rctx, status); err != nil {
		return nil, fmt.Errorf("register: %s: %w", svc.ID, err)
	}
	life, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(life)
	return r, nil
}

// ID is the registered service ID.
func (r *Registration) ID() string { return r.svc.ID }

// CheckID is the ID of the instance's check: "service:" + ID.
func (r *Registration) CheckID() string { return "service:" + r.svc.ID }

// Registrations counts how many times the instance was registered: 1 after
// Register, one more per re-registration.
func (r *Registration) Registrations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered
}

func (r *Registration) registration(status string) *api.AgentServiceRegistration {
	o := r.opts
	chk := &api.AgentServiceCheck{
		CheckID: r.CheckID(),
		Name:    "gRPC health of " + r.svc.ID,
		Status:  status,
	}
	if o.ttl > 0 {
		chk.Name = "TTL of " + r.svc.ID
		chk.TTL = o.ttl.String()
	} else {
		chk.GRPC = o.checkAddr
		if o.healthService != "" {
			chk.GRPC += "/" + o.healthService
		}
		chk.Interval = o.interval.String()
		timeout := o.checkTimeout
		if timeout == 0 {
			timeout = min(10*time.Second, max(o.interval, time.Second))
		}
		chk.Timeout = timeout.String()
	}
	if o.deregisterAt > 0 {
		chk.DeregisterCriticalServiceAfter = o.deregisterAt.String()
	}
	return &api.AgentServiceRegistration{
		ID:      r.svc.ID,
		Name:    r.svc.Name,
		Address: r.svc.Address,
		Port:    r.svc.Port,
		Tags:    slices.Clone(r.svc.Tags),
		Meta:    maps.Clone(r.svc.Meta),
		Check:   chk,
	}
}

// register registers (or registers again) the instance with the check in
// the given initial status.
func (r *Registration) register(ctx context.Context, status string) error {
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.client.Agent().ServiceRegisterOpts(r.registration(status), opts); err != nil {
		return err
	}
	if r.opts.ttl > 0 {
		if err := r.passTTL(ctx); err != nil {
			return fmt.Errorf("passing the TTL check: %w", err)
		}
	}
	r.mu.Lock()
	r.registered++
	r.lastStatus = status
	r.mu.Unlock()
	return nil
}

func (r *Registration) passTTL(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	return r.client.Agent().UpdateTTLOpts(r.CheckID(), "", api.HealthPassing, q)
}

// run keeps the instance registered until life ends: with a TTL check it
// passes the check every ttl/3; with a gRPC check it asks the agent every
// resync period whether it knows the instance. Either way a failure leads
// to registering again, retried with backoff.
func (r *Registration) run(life context.Context) {
	defer close(r.done)
	period := r.opts.resync
	if r.opts.ttl > 0 {
		period = r.opts.ttl / 3
	}
	bo := resolvercore.Backoff{Min: minBackoff, Max: r.opts.maxBackoff}
	wait := period
	for {
		if !resolvercore.Sleep(life, wait) {
			return
		}
		ctx, cancel := context.WithTimeout(life, r.opts.timeout)
		err := r.keep(ctx)
		cancel()
		if life.Err() != nil {
			return
		}
		if err == nil {
			bo.Reset()
			wait = period
			continue
		}
		wait = min(period, bo.Next())
		r.log.Warn("register: keeping the registration failed; retrying", "err", err, "in", wait.Round(time.Millisecond))
	}
}

// keep does one round of keeping the instance registered.
func (r *Registration) keep(ctx context.Context) error {
	if r.opts.ttl > 0 {
		err := r.passTTL(ctx)
		if err == nil {
			return nil
		}
		// Most likely the agent forgot the check (restarted), or is down:
		// register again, which fails too while it is down.
		r.log.Info("register: passing the TTL check failed; registering again", "err", err)
		if err := r.register(ctx, api.HealthPassing); err != nil {
			return err
		}
		r.log.Info("register: registered again", "registrations", r.Registrations())
		return nil
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	status, info, err := r.client.Agent().AgentHealthServiceByIDOpts(r.svc.ID, q)
	if err != nil {
		return fmt.Errorf("asking the agent for the instance: %w", err)
	}
	r.mu.Lock()
	last := r.lastStatus
	if info != nil {
		r.lastStatus = status
	}
	r.mu.Unlock()
	if info != nil {
		return nil
	}
	// Unknown to the agent: register again, passing if it was passing
	// (the server still serves; the next check corrects it otherwise).
	r.log.Warn("register: the agent does not know the instance (restarted?); registering again", "last_status", last)
	if last != api.HealthPassing {
		last = api.HealthCritical
	}
	if err := r.register(ctx, last); err != nil {
		return fmt.Errorf("registering again: %w", err)
	}
	r.log.Info("register: registered again", "registrations", r.Registrations())
	return nil
}

// Stop stops keeping the instance registered and returns without telling
// the agent: the instance stays registered, and turns critical when its
// check fails (with a TTL check, within the TTL). Prefer Deregister.
func (r *Registration) Stop() {
	r.cancel()
	<-r.done
}

// Deregister stops keeping the instance registered and removes it from
// the agent, so resolvers drop it at once. It gives up when ctx ends or
// after the timeout (WithTimeout), whichever comes first. An instance the
// agent no longer knows counts as deregistered. Calling it again after it
// succeeded does nothing.
//
// Its type fits server.DrainConfig.OnNotServing, which calls it after the
// server turned NOT_SERVING and before the grace period:
//
//	server.DrainConfig{OnNotServing: []func(context.Context) error{reg.Deregister}}
func (r *Registration) Deregister(ctx context.Context) error {
	r.Stop()
	r.mu.Lock()
	done := r.deregistered
	r.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	err := r.client.Agent().ServiceDeregisterOpts(r.svc.ID, q)
	var se api.StatusError
	if err != nil && !(errors.As(err, &se) && se.Code == http.StatusNotFound) {
		return fmt.Errorf("register: deregistering %s: %w", r.svc.ID, err)
	}
	r.mu.Lock()
	r.deregistered = true
	r.mu.Unlock()
	r.log.Info("register: deregistered")
	return nil
}

// checkService checks svc and fills its default ID.
func checkService(svc *Service) error {
	bad := func(s string) bool {
		return s == "" || slices.ContainsFunc([]rune(s), func(c rune) bool {
			return unicode.IsSpace(c) || unicode.IsControl(c) || c == '/' || c == unicode.ReplacementChar
		})
	}
	switch {
	case bad(svc.Name):
		return fmt.Errorf("service name %q is empty or has a space, a control character or '/'", svc.Name)
	case svc.Port < 1 || svc.Port > 65535:
		return fmt.Errorf("port %d is not from 1 to 65535", svc.Port)
	case svc.Address != "" && bad(svc.Address):
		return fmt.Errorf("address %q has a space, a control character or '/'", svc.Address)
	}
	if svc.ID == "" {
		host := svc.Address
		if host == "" {
			host = "node"
		}
		svc.ID = svc.Name + "-" + net.JoinHostPort(host, strconv.Itoa(svc.Port))
	}
	if bad(svc.ID) {
		return fmt.Errorf("service ID %q is empty or has a space, a control character or '/'", svc.ID)
	}
	for _, tag := range svc.Tags {
		if tag == "" {
			return errors.New("empty tag")
		}
	}
	return nil
}
