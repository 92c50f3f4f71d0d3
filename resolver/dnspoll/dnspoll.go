package dnspoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	grpclbendpoint "github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Scheme is the target scheme this package registers: dnspoll:///name:port.
const Scheme = "dnspoll"

func init() {
	resolver.Register(NewBuilder(Options{}))
}

// NewBuilder returns a builder whose resolvers use opts as defaults (query
// parameters in a target still override them). Pass it to grpc.NewClient
// with grpc.WithResolvers to use options other than the defaults.
func NewBuilder(opts Options) resolver.Builder {
	return resolvercore.NewBuilder(Scheme, func(u url.URL) (target, error) { return parseTarget(u, opts) }, func(t target, cc resolver.ClientConn, url string) (resolver.Resolver, error) {
		lookup := &net.Resolver{PreferGo: true, Dial: dialTo(t.dnsServer)}
		return start(t, cc, lookup, t.opts.Logger.With("resolver", Scheme, "target", url)), nil
	})
}

// dialTo dials server, or the system's name server (from resolv.conf) when
// server is empty. The connection closes as soon as the lookup's context
// ends, so Close never leaves a goroutine waiting on a silent DNS server.
func dialTo(server string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if server != "" {
			address = server
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { c.Close() })
		return c, nil
	}
}

// lookuper is the part of *net.Resolver the poller uses.
type lookuper interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// start starts polling t with lookup.
func start(t target, cc resolver.ClientConn, lookup lookuper, log *slog.Logger) *dnsPoller {
	r := &dnsPoller{
		target: t,
		rn:     resolvercore.NewWake(),
		log:    log,
		pub:    resolvercore.NewPublisher(cc, resolvercore.Config{Name: "dnspoll", Source: "lookup", PublishEmpty: t.opts.PublishEmpty, Logger: log}),
		lookup: lookup,
	}
	r.loop = resolvercore.Go(r.watch)
	return r
}

// dnsPoller is one ClientConn's resolver: a goroutine that looks the name up
// on a timer or on ResolveNow and publishes changes.
type dnsPoller struct {
	target target
	lookup lookuper
	log    *slog.Logger
	rn     resolvercore.Wake
	loop   *resolvercore.Loop

	// Owned by the watch goroutine.
	pub *resolvercore.Publisher
}

// ResolveNow asks for a lookup as soon as the floor (MinInterval since the
// last lookup) allows. Calls while one is pending are merged.
func (r *dnsPoller) ResolveNow(resolver.ResolveNowOptions) { r.rn.Signal() }

// Close stops the resolver and waits for its goroutine to end.
func (r *dnsPoller) Close() { r.loop.Stop() }

func (r *dnsPoller) watch(ctx context.Context) {
	o := r.target.opts
	failures := 0
	for {
		last := time.Now()
		if r.resolveOnce(ctx) {
			failures = 0
		} else {
			failures++
		}
		wait := nextWait(o, r.pub.HaveGood(), failures)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-r.rn:
			timer.Stop()
			// Never look up more often than the floor, however often
			// ResolveNow is called.
			if floor := time.Until(last.Add(o.MinInterval)); floor > 0 && !resolvercore.Sleep(ctx, floor) {
				return
			}
		}
	}
}

// nextWait is the jittered interval, or, while no good set has been
// published, an exponential backoff from MinInterval up to Interval.
func nextWait(o Options, haveGood bool, failures int) time.Duration {
	base := o.Interval
	if failures > 0 && !haveGood {
		base = min(o.Interval, o.MinInterval<<min(failures-1, 16))
	}
	return max(resolvercore.Jitter(base, o.Jitter), o.MinInterval)
}

// resolveOnce looks the target up and publishes the result when it should.
// It reports whether the lookup gave a usable answer.
func (r *dnsPoller) resolveOnce(ctx context.Context) bool {
	lctx, cancel := context.WithTimeout(ctx, r.target.opts.Timeout)
	eps, err := r.resolve(lctx)
	cancel()
	if ctx.Err() != nil {
		return false // closing
	}
	if err == nil && len(eps) == 0 {
		err = errEmpty
	}
	if err != nil {
		err = fmt.Errorf("dnspoll: resolving %q via %s: %w", r.target.host, r.serverName(), err)
		if isEmpty(err) {
			r.pub.Empty(err)
			return r.target.opts.PublishEmpty
		}
		r.pub.Fail(err)
		return false
	}
	if r.pub.Recovered() {
		r.log.Info("dnspoll: the name resolves again", "server", r.serverName())
	}
	keys := make([]string, 0, len(eps))
	for _, ep := range eps {
		key := ep.Addresses[0].Addr
		if srv, ok := SRVInfoFromEndpoint(ep); ok {
			key += fmt.Sprintf(" priority=%d weight=%d", srv.Priority, srv.Weight)
		}
		keys = append(keys, key)
	}
	r.pub.Publish(eps, keys)
	return true
}

var errEmpty = errors.New("no addresses")

// serverName names the DNS server asked, for errors: the Go resolver's own
// errors name the resolv.conf server even when another one is dialled.
func (r *dnsPoller) serverName() string {
	if r.target.dnsServer != "" {
		return r.target.dnsServer
	}
	return "the system resolver"
}

// isEmpty says whether an error means "the name has no addresses" (NXDOMAIN
// or an empty answer) rather than "DNS did not answer".
func isEmpty(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, errEmpty) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

// resolve does the lookups and returns one endpoint per address, sorted.
func (r *dnsPoller) resolve(ctx context.Context) ([]resolver.Endpoint, error) {
	t := r.target
	if ip, err := netip.ParseAddr(t.host); err == nil {
		return []resolver.Endpoint{endpoint(netip.AddrPortFrom(ip.Unmap(), mustPort(t.port)), nil)}, nil
	}
	if !t.opts.SRV {
		ips, err := r.lookup.LookupNetIP(ctx, "ip", t.host)
		if err != nil {
			return nil, err
		}
		port := mustPort(t.port)
		eps := make([]resolver.Endpoint, 0, len(ips))
		for _, ip := range dedupe(ips) {
			eps = append(eps, endpoint(netip.AddrPortFrom(ip, port), nil))
		}
		return eps, nil
	}
	_, srvs, err := r.lookup.LookupSRV(ctx, "", "", t.host)
	if err != nil {
		return nil, err
	}
	var eps []resolver.Endpoint
	seen := make(map[netip.AddrPort]bool)
	var lastErr error
	for _, s := range srvs {
		ips, err := r.lookup.LookupNetIP(ctx, "ip", s.Target)
		if err != nil {
			lastErr = err
			r.log.Warn("dnspoll: SRV target does not resolve; skipping it", "srv_target", s.Target, "err", err)
			continue
		}
		info := &SRVInfo{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight}
		for _, ip := range dedupe(ips) {
			ap := netip.AddrPortFrom(ip, s.Port)
			if seen[ap] {
				continue
			}
			seen[ap] = true
			// The SRV weight is the endpoint's weight, for weighted
			// policies such as wrr (0, "no weight", counts as 1).
			eps = append(eps, grpclbendpoint.WithWeight(endpoint(ap, info), uint32(s.Weight)))
		}
	}
	if len(eps) == 0 && lastErr != nil {
		return nil, lastErr
	}
	slices.SortFunc(eps, func(a, b resolver.Endpoint) int {
		return compareAddr(a.Addresses[0].Addr, b.Addresses[0].Addr)
	})
	return eps, nil
}

func compareAddr(a, b string) int {
	pa, ea := netip.ParseAddrPort(a)
	pb, eb := netip.ParseAddrPort(b)
	if ea != nil || eb != nil {
		return 0
	}
	return pa.Compare(pb)
}

func mustPort(p string) uint16 {
	n, _ := strconv.ParseUint(p, 10, 16) // validated by parseTarget
	return uint16(n)
}

func dedupe(ips []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

type srvKey struct{}

// SRVInfo is the SRV record an endpoint came from (SRV targets only).
type SRVInfo struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// Equal lets attributes compare SRVInfo values.
func (s *SRVInfo) Equal(o any) bool {
	x, ok := o.(*SRVInfo)
	return ok && *x == *s
}

// SRVInfoFromEndpoint returns the SRV record behind an endpoint, if any.
func SRVInfoFromEndpoint(ep resolver.Endpoint) (SRVInfo, bool) {
	return resolvercore.FromEndpoint[SRVInfo](ep, srvKey{})
}

func endpoint(ap netip.AddrPort, srv *SRVInfo) resolver.Endpoint {
	ep := resolver.Endpoint{Addresses: []resolver.Address{{Addr: ap.String()}}}
	if srv != nil {
		ep.Attributes = attributes.New(srvKey{}, srv)
	}
	return ep
}
