// Package policy is the wiring grpclb's balancer policies share: their
// registration (Register) and, for the petiole policies (p2c_ewma, wrr,
// consistent_hash), the endpointsharding child that keeps a pick_first
// child per endpoint (Petiole).
package policy

import (
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/resolvererr"
)

// Register registers the policy name with gRPC: its configs are parsed by
// parse and its balancers built by build.
func Register[C serviceconfig.LoadBalancingConfig](name string, parse func(json.RawMessage) (C, error), build func(balancer.ClientConn, balancer.BuildOptions) balancer.Balancer) {
	balancer.Register(builder[C]{name: name, parse: parse, build: build})
}

type builder[C serviceconfig.LoadBalancingConfig] struct {
	name  string
	parse func(json.RawMessage) (C, error)
	build func(balancer.ClientConn, balancer.BuildOptions) balancer.Balancer
}

func (b builder[C]) Name() string { return b.name }

// ParseConfig implements balancer.ConfigParser.
func (b builder[C]) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	cfg, err := b.parse(js)
	if err != nil {
		return nil, err // not a typed nil *Config, which is a non-nil interface
	}
	return cfg, nil
}

func (b builder[C]) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return b.build(cc, opts)
}

// Config returns the policy's config in a ClientConnState, cfg, as a C, or
// def() when there is none. A config of another type is logged and is
// balancer.ErrBadResolverState.
func Config[C serviceconfig.LoadBalancingConfig](cfg serviceconfig.LoadBalancingConfig, def func() C, name string, logger grpclog.LoggerV2) (C, error) {
	if cfg == nil {
		return def(), nil
	}
	c, ok := cfg.(C)
	if !ok {
		logger.Errorf("%s: received a config of unexpected type %T", name, cfg)
		return c, balancer.ErrBadResolverState
	}
	return c, nil
}

// Petiole is the part of a petiole policy that grpc-go's endpointsharding
// does: a pick_first child per endpoint, which owns its SubConn, while the
// policy only builds pickers from the children's states.
//
// A policy embeds a Petiole, calls Start from its Build, and defines
// UpdateState to receive endpointsharding's aggregated state (the embedded
// ClientConn is the channel, for the policy's own UpdateState calls). The
// Balancer methods other than UpdateClientConnState are the Petiole's,
// unless the policy has its own.
type Petiole struct {
	balancer.ClientConn // the channel
	child               balancer.Balancer
	// why the set is empty, for the calls the policy fails
	resolverErr resolvererr.Keeper
	logger      grpclog.LoggerV2
	name        string
}

// Start sets the channel, cc, and builds the endpointsharding child, which
// reports its state to policy (the balancer that embeds p). name and
// logger are for the log of unexpected calls.
func (p *Petiole) Start(cc, policy balancer.ClientConn, opts balancer.BuildOptions, name string, logger grpclog.LoggerV2) {
	p.ClientConn, p.name, p.logger = cc, name, logger
	p.child = endpointsharding.NewBalancer(policy, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
}

// UpdateChildren notes the resolver state for the calls that an empty set
// fails and hands it to the children. endpointsharding calls the policy's
// UpdateState with the children of the new endpoint set before it returns.
func (p *Petiole) UpdateChildren(s resolver.State) error {
	p.resolverErr.Update(s)
	return p.child.UpdateClientConnState(balancer.ClientConnState{
		// Let pick_first children use client-side health checks and
		// outlier detection when configured.
		ResolverState: pickfirst.EnableHealthListener(s),
	})
}

// UpdateConfig is the UpdateClientConnState of a petiole policy p whose
// config takes effect with its next picker: the config in ccs (see Config,
// def when there is none) goes to set, then the resolver state to the
// children (UpdateChildren), after which endpointsharding's UpdateState
// builds that picker.
func UpdateConfig[C serviceconfig.LoadBalancingConfig](p *Petiole, ccs balancer.ClientConnState, def func() C, set func(C)) error {
	cfg, err := Config(ccs.BalancerConfig, def, p.name, p.logger)
	if err != nil {
		return err
	}
	set(cfg)
	return p.UpdateChildren(ccs.ResolverState)
}

// Forward publishes endpointsharding's own state s, for when the policy
// has no picker of its own: its picker round-robins over the children in
// the most relevant state, queueing or failing calls as they say; with no
// endpoint at all, it fails them with the resolver's reason (see
// resolvererr).
func (p *Petiole) Forward(s balancer.State) { p.ClientConn.UpdateState(p.resolverErr.State(s)) }

// ResolverError implements balancer.Balancer.
func (p *Petiole) ResolverError(err error) {
	p.resolverErr.Error(err)
	p.child.ResolverError(err)
}

// UpdateSubConnState implements balancer.Balancer; the children own the
// SubConns, so it is not called.
func (p *Petiole) UpdateSubConnState(sc balancer.SubConn, state balancer.SubConnState) {
	p.logger.Errorf("%s: UpdateSubConnState(%v, %+v) called unexpectedly", p.name, sc, state)
}

// ExitIdle implements balancer.Balancer.
func (p *Petiole) ExitIdle() { p.child.ExitIdle() }

// Close implements balancer.Balancer: it closes the children.
func (p *Petiole) Close() { p.child.Close() }

// EndpointKey names an endpoint by its addresses, sorted and joined with
// sep, so that the order of an endpoint's addresses does not matter; it
// does not allocate for one address.
func EndpointKey(ep resolver.Endpoint, sep string) string {
	switch len(ep.Addresses) {
	case 0:
		return ""
	case 1:
		return ep.Addresses[0].Addr
	}
	addrs := make([]string, len(ep.Addresses))
	for i, a := range ep.Addresses {
		addrs[i] = a.Addr
	}
	slices.Sort(addrs)
	return strings.Join(addrs, sep)
}
