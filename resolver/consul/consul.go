package consul

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Scheme is the target scheme this package registers:
// consul://agent:8500/service.
const Scheme = "consul"

func init() {
	resolver.Register(NewBuilder(Options{}))
}

// NewBuilder returns a builder whose resolvers use opts as defaults (query
// parameters in a target still override them). Pass it to grpc.NewClient
// with grpc.WithResolvers to use options other than the defaults, such as
// TLS in Config or a Token.
func NewBuilder(opts Options) resolver.Builder {
	return resolvercore.NewBuilder(Scheme, func(u url.URL) (target, error) { return parseTarget(u, opts) }, start)
}

// start starts the resolver of one parsed target.
func start(pt target, cc resolver.ClientConn, url string) (resolver.Resolver, error) {
	client, tr, err := newAPIClient(pt)
	if err != nil {
		return nil, err
	}
	log := pt.opts.Logger.With("resolver", Scheme, "target", url)
	r := &consulResolver{
		target:   pt,
		health:   client.Health(),
		tr:       tr,
		log:      log,
		pub:      resolvercore.NewPublisher(cc, resolvercore.Config{Name: "consul", Source: "query", PublishEmpty: pt.opts.PublishEmpty, Logger: log}),
		problems: resolvercore.NewProblems(log),
	}
	r.loop = resolvercore.Go(r.run)
	return r, nil
}

// newAPIClient makes the resolver's API client, with its own transport
// (returned, to close its idle connections) unless Config.HttpClient was
// given.
func newAPIClient(t target) (*api.Client, *http.Transport, error) {
	var cfg api.Config
	if t.opts.Config != nil {
		cfg = *t.opts.Config
	} else {
		cfg = *api.DefaultConfig()
	}
	if t.agent != "" {
		cfg.Address = t.agent
	}
	if t.opts.Token != "" {
		cfg.Token = t.opts.Token
		cfg.TokenFile = ""
	}
	var tr *http.Transport
	if cfg.HttpClient == nil {
		if cfg.Transport != nil {
			tr = cfg.Transport.Clone()
		} else {
			tr = api.DefaultConfig().Transport
		}
		cfg.Transport = tr
	}
	c, err := api.NewClient(&cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("making a Consul client: %w", err)
	}
	return c, tr, nil
}

// consulResolver is one ClientConn's resolver: a goroutine that runs
// blocking queries on the service's health and publishes the full set on
// every change.
type consulResolver struct {
	target target
	health *api.Health
	tr     *http.Transport // nil when Config.HttpClient is the caller's
	log    *slog.Logger
	loop   *resolvercore.Loop

	// Owned by the run goroutine.
	pub      *resolvercore.Publisher
	problems *resolvercore.Problems // bad and duplicate entries, logged once each
	index    uint64                 // the index of the last answer: the next query waits for a change after it
}

// ResolveNow does nothing: the resolver learns of every change through its
// blocking queries, and keeps retrying by itself when Consul fails.
func (*consulResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close stops the resolver, waits for its goroutine to end and closes its
// idle connections.
func (r *consulResolver) Close() {
	r.loop.Stop()
	if r.tr != nil {
		r.tr.CloseIdleConnections()
	}
}

func (r *consulResolver) run(ctx context.Context) {
	bo := resolvercore.Backoff{Min: minBackoff, Max: r.target.opts.MaxBackoff}
	for {
		waitIndex := r.index
		start := time.Now()
		entries, meta, err := r.query(ctx, waitIndex)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The agent may come back restarted, with an index from
			// another history: read the current state first.
			r.index = 0
			r.pub.Fail(fmt.Errorf("consul: %w", err))
			if !resolvercore.Sleep(ctx, bo.Next()) {
				return
			}
			continue
		}
		bo.Reset()
		if r.pub.Recovered() {
			r.log.Info("consul: the agent answers again")
		}
		switch {
		case meta.LastIndex < waitIndex:
			// Consul's rule: an index that went backwards (an agent or a
			// cluster restarted empty, a snapshot restored) means another
			// history; this answer is the current state, and the next
			// query starts over.
			r.log.Info("consul: index went backwards; reading the service again", "from", waitIndex, "to", meta.LastIndex)
			r.index = 0
		case meta.LastIndex == 0:
			r.index = 1 // never block on 0, which answers at once
		default:
			r.index = meta.LastIndex
		}
		r.publish(entries)
		if waitIndex != 0 && meta.LastIndex == waitIndex && time.Since(start) < 10*time.Millisecond {
			// An unchanged index answered at once: do not spin.
			if !resolvercore.Sleep(ctx, minBackoff) {
				return
			}
		}
	}
}

// query runs one (blocking, after the first) health query.
func (r *consulResolver) query(ctx context.Context, index uint64) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	o := r.target.opts
	q := &api.QueryOptions{
		Datacenter: r.target.dc,
		Near:       r.target.near,
		AllowStale: r.target.stale,
		WaitIndex:  index,
		WaitTime:   o.WaitTime,
	}
	// Consul answers a blocking query within WaitTime plus up to 1/16 of
	// it; an agent that says nothing beyond that is gone.
	qctx, cancel := context.WithTimeout(ctx, o.WaitTime+o.WaitTime/16+o.Timeout)
	defer cancel()
	entries, meta, err := r.health.ServiceMultipleTags(r.target.service, r.target.tags, r.target.passing, q.WithContext(qctx))
	if err != nil {
		return nil, nil, fmt.Errorf("health of %q: %w", r.target.service, err)
	}
	if meta == nil {
		meta = &api.QueryMeta{}
	}
	return entries, meta, nil
}

// publish sends the full set to the channel when it changed. Bad entries
// are skipped with a log line (once per version of the entry).
func (r *consulResolver) publish(entries []*api.ServiceEntry) {
	// Entries in node/ID order, so which of two entries for one address
	// wins does not depend on Consul's order.
	slices.SortFunc(entries, func(a, b *api.ServiceEntry) int { return strings.Compare(entryName(a), entryName(b)) })
	byAddr := make(map[string]string)
	var insts []*Instance
	for _, e := range entries {
		name := entryName(e)
		inst, err := instanceFromEntry(e)
		if err != nil {
			r.problems.Note(name+"\x00"+err.Error(), "consul: skipping a bad entry", "entry", name, "err", err)
			continue
		}
		if first, dup := byAddr[inst.Addr]; dup {
			r.problems.Note(name+"\x00dup "+inst.Addr+" "+first, "consul: skipping a duplicate instance", "entry", name, "addr", inst.Addr, "duplicate_of", first)
			continue
		}
		byAddr[inst.Addr] = name
		insts = append(insts, inst)
	}
	r.problems.Done()
	if len(insts) == 0 {
		r.pub.Empty(fmt.Errorf("consul: no %s instance of service %q%s", r.passingWord(), r.target.service, r.tagWords()))
		return
	}
	slices.SortFunc(insts, func(a, b *Instance) int { return strings.Compare(a.Addr, b.Addr) })
	eps := make([]resolver.Endpoint, 0, len(insts))
	fp := make([]string, 0, len(insts))
	for _, in := range insts {
		eps = append(eps, in.endpoint())
		fp = append(fp, in.fingerprint())
	}
	r.pub.Publish(eps, fp, "index", r.index)
}

func (r *consulResolver) passingWord() string {
	if r.target.passing {
		return "passing"
	}
	return "registered"
}

func (r *consulResolver) tagWords() string {
	if len(r.target.tags) == 0 {
		return ""
	}
	return fmt.Sprintf(" with tags %q", r.target.tags)
}
