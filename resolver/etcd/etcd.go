package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Scheme is the target scheme this package registers:
// etcd://host:port/service/prefix.
const Scheme = "etcd"

func init() {
	resolver.Register(NewBuilder(Options{}))
}

// NewBuilder returns a builder whose resolvers use opts as defaults (query
// parameters in a target still override them). Pass it to grpc.NewClient
// with grpc.WithResolvers to use options other than the defaults, such as
// a shared Client or TLS in ClientConfig.
func NewBuilder(opts Options) resolver.Builder {
	return resolvercore.NewBuilder(Scheme, func(u url.URL) (target, error) {
		return parseTarget(u, opts, os.Getenv(EnvEndpoints))
	}, start)
}

// start starts the resolver of one parsed target.
func start(pt target, cc resolver.ClientConn, url string) (resolver.Resolver, error) {
	log := pt.opts.Logger.With("resolver", Scheme, "target", url)
	r := &etcdResolver{
		target:   pt,
		log:      log,
		kvs:      make(map[string]kvEntry),
		pub:      resolvercore.NewPublisher(cc, resolvercore.Config{Name: "etcd", Source: "etcd", PublishEmpty: pt.opts.PublishEmpty, Logger: log}),
		problems: resolvercore.NewProblems(log),
	}
	r.loop = resolvercore.Go(r.run)
	return r, nil
}

// etcdResolver is one ClientConn's resolver: a goroutine that reads the
// prefix, watches it and publishes the full set on every change.
type etcdResolver struct {
	target target
	log    *slog.Logger
	loop   *resolvercore.Loop

	// Owned by the run goroutine.
	pub      *resolvercore.Publisher
	problems *resolvercore.Problems // bad values and duplicates, logged once each
	kvs      map[string]kvEntry     // every value under the prefix, by key
	rev      int64                  // the revision of the last event seen: watches resume after it
	storeRev int64                  // the highest store revision etcd has reported
}

// kvEntry is one key's value: an instance, or why the value is not one.
type kvEntry struct {
	inst   *Instance
	err    error
	modRev int64
}

// ResolveNow does nothing: the resolver is told of every change by its
// watch, and keeps retrying by itself when etcd fails.
func (*etcdResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close stops the resolver, closes its etcd client (unless it was
// Options.Client) and waits for its goroutine to end.
func (r *etcdResolver) Close() { r.loop.Stop() }

func (r *etcdResolver) run(ctx context.Context) {
	o := r.target.opts
	bo := resolvercore.Backoff{Min: minBackoff, Max: o.MaxBackoff}
	cli := o.Client
	if r.target.endpoints != nil {
		for {
			c, err := r.newClient(ctx)
			if err == nil {
				cli = c
				break
			}
			if ctx.Err() != nil {
				return
			}
			r.fail(fmt.Errorf("making a client: %w", err))
			if !resolvercore.Sleep(ctx, bo.Next()) {
				return
			}
		}
		defer cli.Close()
	}
	bo.Reset()
	needRead := true
	for {
		if cli.Ctx().Err() != nil {
			// Only a shared client can be closed under the resolver.
			r.fail(errors.New("the shared etcd client (Options.Client) was closed"))
			<-ctx.Done()
			return
		}
		if needRead {
			if err := r.read(ctx, cli); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.fail(err)
				if !resolvercore.Sleep(ctx, bo.Next()) {
					return
				}
				continue
			}
			needRead = false
			bo.Reset()
			if r.pub.Recovered() {
				r.log.Info("etcd: etcd answers again")
			}
		}
		end, progressed, err := r.watch(ctx, cli)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			bo.Reset()
		}
		wait := bo.Next()
		switch end {
		case watchCompacted:
			// Events after r.rev are gone: read the prefix again.
			r.log.Info("etcd: watch revision was compacted; reading the prefix again", "revision", r.rev+1, "err", err)
			needRead = true
			if progressed {
				continue // at once; the backoff is for repeated failures
			}
		case watchRewound:
			r.log.Warn("etcd: reading the prefix again", "err", err)
			needRead = true
			if progressed {
				continue
			}
		default:
			r.log.Warn("etcd: watch ended; resuming", "after_revision", r.rev, "in", wait.Round(time.Millisecond), "err", err)
		}
		if !resolvercore.Sleep(ctx, wait) {
			return
		}
	}
}

// newClient makes the resolver's own etcd client. It does not wait for a
// connection (unless ClientConfig asks it to authenticate).
func (r *etcdResolver) newClient(ctx context.Context) (*clientv3.Client, error) {
	o := r.target.opts
	cfg := o.ClientConfig
	cfg.Endpoints = r.target.endpoints
	cfg.DialTimeout = o.DialTimeout
	cfg.Context = ctx
	if cfg.Logger == nil && cfg.LogConfig == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.DialKeepAliveTime == 0 {
		cfg.DialKeepAliveTime = defaultKeepAlive
		if cfg.DialKeepAliveTimeout == 0 {
			cfg.DialKeepAliveTimeout = defaultKeepAliveTTL
		}
	}
	// grpc-go's reconnection backoff grows to 2 minutes, so after a long
	// etcd outage the client could take that long to notice etcd is back;
	// cap it at MaxBackoff. The caller's DialOptions come after, and win.
	bc := backoff.DefaultConfig
	bc.BaseDelay = minBackoff
	bc.MaxDelay = o.MaxBackoff
	cfg.DialOptions = append([]grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: o.DialTimeout}),
	}, cfg.DialOptions...)
	return clientv3.New(cfg)
}

// read reads the whole prefix, replaces what the resolver knows with it and
// publishes the result.
func (r *etcdResolver) read(ctx context.Context, cli *clientv3.Client) error {
	resp, err := r.get(ctx, cli, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("reading %q: %w", r.target.keyPrefix(), err)
	}
	r.kvs = make(map[string]kvEntry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r.put(kv)
	}
	r.rev = resp.Header.Revision
	r.storeRev = resp.Header.Revision // after a rewind, this goes back too
	r.publish()
	return nil
}

// get reads the prefix within Timeout. etcd's client makes a call wait
// for a connection until its deadline, so an etcd that refuses
// connections used to show only as a deadline exceeded, Timeout later:
// get gives up as soon as the client's connection fails, with what dialing
// the endpoints says.
func (r *etcdResolver) get(ctx context.Context, cli *clientv3.Client, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	gctx, cancel := context.WithTimeout(ctx, r.target.opts.Timeout)
	gctx, fail := context.WithCancelCause(gctx)
	done := make(chan struct{})
	defer func() {
		fail(nil) // ends the watcher below
		cancel()
		<-done
	}()
	go func() {
		defer close(done)
		conn := cli.ActiveConnection()
		for st := conn.GetState(); ; st = conn.GetState() {
			if st == connectivity.TransientFailure {
				fail(unreachable(gctx, cli.Endpoints()))
				return
			}
			if !conn.WaitForStateChange(gctx, st) {
				return
			}
		}
	}()
	resp, err := cli.Get(gctx, r.target.keyPrefix(), opts...)
	if err != nil {
		if cause := context.Cause(gctx); errors.Is(cause, errUnreachable) {
			return nil, cause
		}
	}
	return resp, err
}

var errUnreachable = errors.New("cannot connect to etcd")

// unreachable says why the endpoints cannot be reached: the first dial
// error (such as "connection refused"), or the bare errUnreachable.
func unreachable(ctx context.Context, endpoints []string) error {
	var d net.Dialer
	for _, ep := range endpoints {
		addr := ep
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			addr = u.Host
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: %w", errUnreachable, err)
		}
		c.Close()
	}
	return fmt.Errorf("%w at %s (the connection failed)", errUnreachable, strings.Join(endpoints, ","))
}

// watchEnd says why a watch ended.
type watchEnd int

const (
	watchFailed    watchEnd = iota // an error or a closed channel: resume after r.rev
	watchCompacted                 // the revisions after r.rev are gone: read again
	watchRewound                   // etcd's revision went back: read again
)

// watch watches the prefix from r.rev+1 and publishes every change until
// the watch ends. It reports why it ended, and whether any response
// arrived.
func (r *etcdResolver) watch(ctx context.Context, cli *clientv3.Client) (end watchEnd, progressed bool, err error) {
	// Without a leader a member's data goes stale: make the watch fail
	// then, so it is opened again (on another member if there is one).
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	reconnected := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		notifyReconnect(wctx, cli, reconnected)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	wch := cli.Watch(wctx, r.target.keyPrefix(), clientv3.WithPrefix(), clientv3.WithRev(r.rev+1))
	for {
		select {
		case <-reconnected:
			// The client's own watch resumes by itself after a reconnection,
			// from the revision it had reached. If etcd came back with an
			// older revision (rebuilt empty, or restored from a snapshot
			// without --bump-revision), that watch would wait for
			// revisions the new store will reach only later, and miss
			// everything until then.
			if rev, ok := r.currentRevision(ctx, cli); ok && rev < r.storeRev {
				return watchRewound, progressed, fmt.Errorf("etcd's revision went back from %d to %d (was etcd rebuilt or restored?)", r.storeRev, rev)
			}
		case wresp, ok := <-wch:
			if !ok {
				return watchFailed, progressed, fmt.Errorf("watch channel closed: %w", context.Cause(ctx))
			}
			if wresp.CompactRevision != 0 {
				return watchCompacted, progressed, wresp.Err()
			}
			if err := wresp.Err(); err != nil {
				return watchFailed, progressed, err
			}
			progressed = true
			// The header has the store's revision, which may be ahead of
			// the events when etcd sends a long history in batches: resume
			// from the events, but remember the store's revision.
			r.storeRev = max(r.storeRev, wresp.Header.Revision)
			if len(wresp.Events) == 0 {
				r.rev = max(r.rev, wresp.Header.Revision) // progress notification
				continue
			}
			for _, ev := range wresp.Events {
				switch ev.Type {
				case mvccpb.PUT:
					r.put(ev.Kv)
				case mvccpb.DELETE:
					delete(r.kvs, string(ev.Kv.Key))
				}
				r.rev = max(r.rev, ev.Kv.ModRevision)
			}
			r.publish()
		}
	}
}

// notifyReconnect signals ch (without blocking) every time the client's
// connection becomes ready again, until ctx ends.
func notifyReconnect(ctx context.Context, cli *clientv3.Client, ch chan<- struct{}) {
	conn := cli.ActiveConnection()
	st := conn.GetState()
	for conn.WaitForStateChange(ctx, st) {
		next := conn.GetState()
		if next == connectivity.Ready && st != connectivity.Ready {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		st = next
	}
}

// currentRevision asks etcd for its revision, cheaply (a count of the
// prefix).
func (r *etcdResolver) currentRevision(ctx context.Context, cli *clientv3.Client) (int64, bool) {
	resp, err := r.get(ctx, cli, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, false
	}
	return resp.Header.Revision, true
}

// put stores one key's value, or why it is not an instance.
func (r *etcdResolver) put(kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	inst, err := decodeValue(key, kv.Value)
	r.kvs[key] = kvEntry{inst: inst, err: err, modRev: kv.ModRevision}
}

// publish sends the full set to the channel when it changed. Bad values
// and duplicates are skipped with a log line (once per version of the
// value).
func (r *etcdResolver) publish() {
	// Keys in order, so which of two keys for one address wins does not
	// depend on map order: the first key.
	byAddr := make(map[string]string)
	var insts []*Instance
	for _, key := range slices.Sorted(maps.Keys(r.kvs)) {
		e := r.kvs[key]
		version := fmt.Sprintf("%s@%d", key, e.modRev)
		if e.err != nil {
			r.problems.Note(version, "etcd: skipping a bad value", "key", key, "err", e.err)
			continue
		}
		if first, dup := byAddr[e.inst.Addr]; dup {
			r.problems.Note(version, "etcd: skipping a duplicate instance", "key", key, "addr", e.inst.Addr, "duplicate_of", first)
			continue
		}
		byAddr[e.inst.Addr] = key
		insts = append(insts, e.inst)
	}
	r.problems.Done()
	if len(insts) == 0 {
		r.pub.Empty(fmt.Errorf("etcd: no instance registered under %q", r.target.keyPrefix()))
		return
	}
	slices.SortFunc(insts, func(a, b *Instance) int { return strings.Compare(a.Addr, b.Addr) })
	eps := make([]resolver.Endpoint, 0, len(insts))
	fp := make([]string, 0, len(insts))
	for _, in := range insts {
		eps = append(eps, in.endpoint())
		fp = append(fp, in.Addr+"\x00"+in.Key+"\x00"+string(in.Metadata))
	}
	r.pub.Publish(eps, fp, "revision", r.rev)
}

// fail handles a failed read: keep the last good set, or tell the channel
// while there is none.
func (r *etcdResolver) fail(err error) {
	r.pub.Fail(fmt.Errorf("etcd: %s via %s: %w", r.target.keyPrefix(), r.endpointNames(), err))
}

func (r *etcdResolver) endpointNames() string {
	if r.target.endpoints == nil {
		return "the shared client"
	}
	return strings.Join(r.target.endpoints, ",")
}
