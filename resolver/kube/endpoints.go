package kube

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/grpclb/grpclb/endpoint"
)

// Info is what the EndpointSlices say about one published endpoint. It is
// in the endpoint's Attributes, for balancers that prefer the caller's
// zone or node; read it with InfoFromEndpoint.
type Info struct {
	Namespace string
	Service   string
	// Kind and Name are the endpoint's targetRef, usually "Pod" and the
	// pod's name; empty when the slice has no targetRef.
	Kind, Name string
	// Zone, NodeName and Hostname are the endpoint's fields of the same
	// names, empty when unset.
	Zone, NodeName, Hostname string
	// Terminating is true for an endpoint that is terminating but still
	// serving, published because of TerminatingServe or because no
	// endpoint was ready (see TerminatingDrain).
	Terminating bool
}

type infoKey struct{}

// InfoFromEndpoint returns the Info of an endpoint this resolver
// published.
func InfoFromEndpoint(ep resolver.Endpoint) (Info, bool) {
	info, ok := ep.Attributes.Value(infoKey{}).(Info)
	return info, ok
}

// condition classes of an address, best first.
type class int

const (
	classReady       class = iota // ready and not terminating
	classTerminating              // terminating, still serving
	classUnusable                 // not ready, or terminating and no longer serving
)

// candidate is one address:port the slices list.
type candidate struct {
	addr   string // host:port, canonical
	family discoveryv1.AddressType
	group  string // endpoints with the same group (a pod's v4 and v6 addresses) are one endpoint
	class  class
	info   Info
	// ep is the endpoint of this address alone, with its attributes, and
	// fp its fingerprint (see fingerprintOf): made once per slice version
	// (see sliceMemo), so that a change of one slice in a hundred does not
	// rebuild ten thousand of them.
	ep resolver.Endpoint
	fp string
}

// sliceSet is the result of reading a service's slices for one target.
type sliceSet struct {
	endpoints []resolver.Endpoint
	// fingerprints[i] digests endpoints[i] (addresses and attributes), for
	// comparing the set with the last one published.
	fingerprints []string
	// counts by class of the distinct addresses seen, before selection.
	ready, terminating, unusable int
	// usedTerminating is true when terminating endpoints were published
	// because none was ready.
	usedTerminating bool
	// problems name slices or endpoints that were skipped, and why.
	problems []string
}

// sliceMemo remembers what each EndpointSlice of a service yields for one
// target, by the slice's UID and resourceVersion: a service of 10,000
// endpoints in 100 slices changes one slice at a time, and reading only
// that one cuts the work per change several times (BenchmarkResolve10k).
// A nil memo remembers nothing.
type sliceMemo struct {
	entries map[string]*memoEntry
	gen     uint64
}

type memoEntry struct {
	version  string
	gen      uint64 // the last endpointsFrom that saw the slice
	cands    []candidate
	problems []string
}

func newSliceMemo() *sliceMemo { return &sliceMemo{entries: make(map[string]*memoEntry)} }

// read returns the candidates of slice s for target t and the problems
// found reading them, from the memo when s has not changed.
func (m *sliceMemo) read(s *discoveryv1.EndpointSlice, t target) ([]candidate, []string) {
	if m == nil || s.ResourceVersion == "" {
		return readSlice(s, t)
	}
	key := string(s.UID)
	if key == "" {
		key = s.Namespace + "/" + s.Name
	}
	e := m.entries[key]
	if e == nil || e.version != s.ResourceVersion {
		e = &memoEntry{version: s.ResourceVersion}
		e.cands, e.problems = readSlice(s, t)
		m.entries[key] = e
	}
	e.gen = m.gen
	return e.cands, e.problems
}

// prune forgets the slices the last endpointsFrom did not see.
func (m *sliceMemo) prune() {
	if m == nil {
		return
	}
	for key, e := range m.entries {
		if e.gen != m.gen {
			delete(m.entries, key)
		}
	}
}

// readSlice returns the candidates of one slice for target t, and why it or
// some of its endpoints were skipped.
func readSlice(s *discoveryv1.EndpointSlice, t target) ([]candidate, []string) {
	if !t.wantsFamily(s.AddressType) {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			return nil, []string{fmt.Sprintf("EndpointSlice %s: FQDN addresses, ignored as kube-proxy ignores them (option fqdn=include uses them)", s.Name)}
		}
		return nil, nil
	}
	port, err := t.port.resolve(s.Ports)
	if err != nil {
		return nil, []string{fmt.Sprintf("EndpointSlice %s: %v", s.Name, err)}
	}
	var problems []string
	cands := make([]candidate, 0, len(s.Endpoints))
	for i, ep := range s.Endpoints {
		c, err := newCandidate(s, ep, port, t)
		if err != nil {
			problems = append(problems, fmt.Sprintf("EndpointSlice %s endpoint %d: %v", s.Name, i, err))
			continue
		}
		cands = append(cands, c)
	}
	return cands, problems
}

// endpointsFrom computes the endpoints a target publishes from all the
// EndpointSlices of its service. It is a pure function of its input, so it
// is table-tested and fuzzed; the slices are only read.
func endpointsFrom(items []*discoveryv1.EndpointSlice, t target) sliceSet {
	return (*sliceMemo)(nil).endpointsFrom(items, t)
}

// endpointsFrom is endpointsFrom, reading unchanged slices from m.
func (m *sliceMemo) endpointsFrom(items []*discoveryv1.EndpointSlice, t target) sliceSet {
	var set sliceSet
	if m != nil {
		m.gen++
		defer m.prune()
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	total := 0
	for _, s := range items {
		if s != nil {
			total += len(s.Endpoints)
		}
	}
	// Sized for every endpoint at once: with thousands of endpoints,
	// growing the map and the slices step by step cost a fifth of the
	// time. The candidates are the memo's, only read.
	byAddr := make(map[string]int, total)
	all := make([]*candidate, 0, total)
	for _, s := range items {
		if s == nil {
			continue
		}
		cands, problems := m.read(s, t)
		set.problems = append(set.problems, problems...)
		for k := range cands {
			c := &cands[k]
			// The same address may sit in two slices for a moment while
			// the controller moves it: keep its best condition.
			if i, ok := byAddr[c.addr]; ok {
				if c.class < all[i].class {
					all[i] = c
				}
				continue
			}
			byAddr[c.addr] = len(all)
			all = append(all, c)
		}
	}

	for _, c := range all {
		switch c.class {
		case classReady:
			set.ready++
		case classTerminating:
			set.terminating++
		default:
			set.unusable++
		}
	}
	use := func(c *candidate) bool { return c.class == classReady }
	switch {
	case t.opts.Terminating == TerminatingServe:
		use = func(c *candidate) bool { return c.class <= classTerminating }
	case set.ready == 0 && set.terminating > 0:
		use = func(c *candidate) bool { return c.class == classTerminating }
		set.usedTerminating = true
	}

	type built struct {
		ep    resolver.Endpoint
		fp    string
		multi bool // more than one address: sort them, and digest again
	}
	groups := make(map[string]int, len(all))
	eps := make([]built, 0, len(all))
	for _, c := range all {
		if !use(c) {
			continue
		}
		if g, ok := groups[c.group]; ok {
			b := &eps[g]
			b.ep.Addresses = append(slices.Clip(b.ep.Addresses), resolver.Address{Addr: c.addr})
			b.multi = true
			continue
		}
		groups[c.group] = len(eps)
		eps = append(eps, built{ep: c.ep, fp: c.fp})
	}
	for i := range eps {
		if b := &eps[i]; b.multi {
			// IPv4 before IPv6 before names, so the order does not depend on
			// slice names.
			slices.SortStableFunc(b.ep.Addresses, func(a, b resolver.Address) int { return cmp.Compare(addrRank(a.Addr), addrRank(b.Addr)) })
			info, _ := InfoFromEndpoint(b.ep)
			b.fp = fingerprintOf(b.ep.Addresses, info)
		}
	}
	slices.SortFunc(eps, func(a, b built) int { return strings.Compare(a.ep.Addresses[0].Addr, b.ep.Addresses[0].Addr) })
	set.endpoints = make([]resolver.Endpoint, len(eps))
	set.fingerprints = make([]string, len(eps))
	for i, b := range eps {
		set.endpoints[i], set.fingerprints[i] = b.ep, b.fp
	}
	return set
}

// fingerprintOf is a comparable digest of an endpoint: its addresses and
// its Info. It avoids fmt: with 10,000 endpoints, formatting Info with %+v
// took 10 ms a change.
func fingerprintOf(addrs []resolver.Address, info Info) string {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.Addr)
		b.WriteByte(',')
	}
	for _, f := range [...]string{info.Namespace, info.Service, info.Kind, info.Name, info.Zone, info.NodeName, info.Hostname} {
		b.WriteString(f)
		b.WriteByte(0) // not in any of the fields (Kubernetes names and labels)
	}
	if info.Terminating {
		b.WriteByte('T')
	}
	return b.String()
}

func addrRank(addr string) int {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return 2
	case ip.Is4():
		return 0
	}
	return 1
}

func (t target) wantsFamily(at discoveryv1.AddressType) bool {
	if at == discoveryv1.AddressTypeFQDN {
		return t.opts.IncludeFQDN
	}
	switch t.opts.Family {
	case FamilyIPv4:
		return at == discoveryv1.AddressTypeIPv4
	case FamilyIPv6:
		return at == discoveryv1.AddressTypeIPv6
	}
	return at == discoveryv1.AddressTypeIPv4 || at == discoveryv1.AddressTypeIPv6
}

// resolve finds the port number of a slice for the target's port.
// Named ports are looked up per slice: the same name may map to different
// numbers in different slices (pods of two versions during a rollout).
func (p portSpec) resolve(ports []discoveryv1.EndpointPort) (int32, error) {
	tcp := func(ep discoveryv1.EndpointPort) bool {
		return ep.Protocol == nil || *ep.Protocol == "TCP"
	}
	switch {
	case p.number != 0:
		return p.number, nil
	case p.name != "":
		for _, ep := range ports {
			if ep.Name != nil && *ep.Name == p.name && tcp(ep) {
				if ep.Port == nil {
					return 0, fmt.Errorf("port %q has no number (\"all ports\"); give a port number in the target", p.name)
				}
				return *ep.Port, nil
			}
		}
		return 0, fmt.Errorf("no TCP port named %q (ports: %s)", p.name, describePorts(ports))
	}
	var found []int32
	for _, ep := range ports {
		if tcp(ep) && ep.Port != nil {
			found = append(found, *ep.Port)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("the target names no port and the slice has %d TCP ports (%s); add :port or :name to the target", len(found), describePorts(ports))
	}
	return found[0], nil
}

func describePorts(ports []discoveryv1.EndpointPort) string {
	if len(ports) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteString(", ")
		}
		name := "(unnamed)"
		if p.Name != nil && *p.Name != "" {
			name = *p.Name
		}
		b.WriteString(name)
		b.WriteByte('=')
		if p.Port == nil {
			b.WriteString("all")
		} else {
			b.WriteString(strconv.Itoa(int(*p.Port)))
		}
		if p.Protocol != nil && *p.Protocol != "TCP" {
			b.WriteString("/" + string(*p.Protocol))
		}
	}
	return b.String()
}

func newCandidate(s *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint, port int32, t target) (candidate, error) {
	if len(ep.Addresses) == 0 {
		return candidate{}, fmt.Errorf("no address")
	}
	// Only the first address has a meaning (the API says so, and
	// kube-proxy reads only that one).
	raw := ep.Addresses[0]
	var host string
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip, err := netip.ParseAddr(raw)
		if err != nil || ip.Zone() != "" || ip.Is4() != (s.AddressType == discoveryv1.AddressTypeIPv4) || ip.Is4In6() {
			return candidate{}, fmt.Errorf("%q is not an %s address", raw, s.AddressType)
		}
		host = ip.String()
	default: // FQDN
		if errs := validation.IsDNS1123Subdomain(raw); len(errs) > 0 {
			return candidate{}, fmt.Errorf("%q is not a host name: %s", raw, strings.Join(errs, "; "))
		}
		host = raw
	}
	c := candidate{
		addr:   net.JoinHostPort(host, strconv.Itoa(int(port))),
		family: s.AddressType,
		info:   Info{Namespace: s.Namespace, Service: t.service},
	}
	if c.info.Namespace == "" {
		c.info.Namespace = t.namespace
	}
	c.group = "addr/" + c.addr
	if ref := ep.TargetRef; ref != nil && ref.Name != "" {
		c.info.Kind, c.info.Name = ref.Kind, ref.Name
		c.group = "ref/" + ref.Kind + "/" + ref.Namespace + "/" + ref.Name
	}
	if ep.Zone != nil {
		c.info.Zone = *ep.Zone
	}
	if ep.NodeName != nil {
		c.info.NodeName = *ep.NodeName
	}
	if ep.Hostname != nil {
		c.info.Hostname = *ep.Hostname
	}
	cond := ep.Conditions
	ready := cond.Ready == nil || *cond.Ready
	// A nil serving means "true" in the API; producers older than
	// serving set only ready, so take ready's value then.
	serving := ready
	if cond.Serving != nil {
		serving = *cond.Serving
	}
	terminating := cond.Terminating != nil && *cond.Terminating
	switch {
	case terminating && serving:
		c.class = classTerminating
	case ready && !terminating:
		c.class = classReady
	default:
		c.class = classUnusable
	}
	c.info.Terminating = c.class == classTerminating
	c.ep = resolver.Endpoint{
		Addresses:  []resolver.Address{{Addr: c.addr}},
		Attributes: attributes.New(infoKey{}, c.info),
	}
	// The zone also in grpclb's standard attribute, which zone-aware
	// consumers (grpclb's xDS server) read whatever the resolver.
	c.ep = endpoint.WithZone(c.ep, c.info.Zone)
	c.fp = fingerprintOf(c.ep.Addresses, c.info)
	return c, nil
}
