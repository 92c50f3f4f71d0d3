package testbed

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DNSServer is a real authoritative DNS server on loopback (UDP and TCP on
// one port) whose A, AAAA and SRV records and TTLs change at run time.
// Unknown names get NXDOMAIN; known names without records of the asked type
// get an empty NOERROR answer.
type DNSServer struct {
	// Addr is the host:port it answers on, for example "127.0.0.1:45123".
	Addr string

	udp, tcp *dns.Server
	queries  atomic.Int64
	mode     atomic.Int32 // a DNSMode

	mu    sync.Mutex
	names map[string]*rrset
}

// DNSMode is how the server answers: normally, or not at all, or with
// SERVFAIL, to play a DNS outage.
type DNSMode int32

const (
	// DNSUp answers from the records.
	DNSUp DNSMode = iota
	// DNSDrop reads queries and never answers them (clients time out).
	DNSDrop
	// DNSServfail answers every query with SERVFAIL.
	DNSServfail
)

// SRV is one SRV record's data.
type SRV struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

type rrset struct {
	ttl  uint32
	ips  []netip.Addr
	srvs []SRV
}

// StartDNS starts a DNS server on 127.0.0.1 with a free port.
func StartDNS() (*DNSServer, error) {
	s := &DNSServer{names: make(map[string]*rrset)}
	// The UDP port is free; the same TCP port may not be (another test's
	// connection, say): try other ports a few times.
	var pc net.PacketConn
	var l net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("testbed: dns: %w", err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: dns: tcp on the udp port: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { started <- struct{}{} }}
	s.tcp = &dns.Server{Listener: l, Handler: s, NotifyStartedFunc: func() { started <- struct{}{} }}
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	return s, nil
}

// Close stops the server.
func (s *DNSServer) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// Queries counts the queries received so far (answered or not).
func (s *DNSServer) Queries() int64 { return s.queries.Load() }

// SetMode switches between answering, dropping and SERVFAIL.
func (s *DNSServer) SetMode(m DNSMode) { s.mode.Store(int32(m)) }

// SetHosts sets the A and AAAA records of name (IPv4 and IPv6 addresses go to
// A and AAAA respectively) with the given TTL. No addresses leaves the name
// known but empty (NOERROR, no answers).
func (s *DNSServer) SetHosts(name string, ttl uint32, ips ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.rrset(name)
	rs.ttl = ttl
	rs.ips = append([]netip.Addr(nil), ips...)
}

// SetSRV sets the SRV records of name, e.g. "_grpc._tcp.svc.test.".
func (s *DNSServer) SetSRV(name string, ttl uint32, srvs ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.rrset(name)
	rs.ttl = ttl
	rs.srvs = append([]SRV(nil), srvs...)
}

// Delete removes name: queries for it get NXDOMAIN.
func (s *DNSServer) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, dns.CanonicalName(name))
}

func (s *DNSServer) rrset(name string) *rrset {
	key := dns.CanonicalName(name)
	rs, ok := s.names[key]
	if !ok {
		rs = &rrset{}
		s.names[key] = rs
	}
	return rs
}

// ServeDNS implements dns.Handler.
func (s *DNSServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	switch DNSMode(s.mode.Load()) {
	case DNSDrop:
		return
	case DNSServfail:
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	s.mu.Lock()
	rs, ok := s.names[name]
	var answer []dns.RR
	if ok {
		answer = rs.records(name, q.Qtype)
	}
	s.mu.Unlock()
	if !ok {
		m.SetRcode(req, dns.RcodeNameError)
	}
	m.Answer = answer
	_ = w.WriteMsg(m)
}

func (rs *rrset) records(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: rs.ttl}
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		for _, ip := range rs.ips {
			switch {
			case ip.Is4() && qtype == dns.TypeA:
				out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: ip.AsSlice()})
			case ip.Is6() && !ip.Is4In6() && qtype == dns.TypeAAAA:
				out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip.AsSlice()})
			}
		}
	case dns.TypeSRV:
		for _, r := range rs.srvs {
			out = append(out, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: r.Priority, Weight: r.Weight,
				Port: r.Port, Target: dns.Fqdn(strings.ToLower(r.Target))})
		}
	}
	return out
}
