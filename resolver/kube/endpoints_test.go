package kube

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/resolver"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/grpclb/grpclb/endpoint"
)

const (
	v4 = discoveryv1.AddressTypeIPv4
	v6 = discoveryv1.AddressTypeIPv6
)

// addrsOf renders endpoints as "a,b" per endpoint, for comparison.
func addrsOf(eps []resolver.Endpoint) []string {
	var out []string
	for _, ep := range eps {
		var as []string
		for _, a := range ep.Addresses {
			as = append(as, a.Addr)
		}
		out = append(out, strings.Join(as, ","))
	}
	return out
}

func TestEndpointsFrom(t *testing.T) {
	grpc := []discoveryv1.EndpointPort{tcpPort("grpc", 8080)}
	tgt := func(port portSpec, mods ...func(*Options)) target {
		tg := target{namespace: "ns", service: "echo", port: port}
		for _, m := range mods {
			m(&tg.opts)
		}
		return tg
	}
	named := portSpec{name: "grpc"}
	serve := func(o *Options) { o.Terminating = TerminatingServe }
	only4 := func(o *Options) { o.Family = FamilyIPv4 }
	only6 := func(o *Options) { o.Family = FamilyIPv6 }
	tests := []struct {
		name         string
		slices       []*discoveryv1.EndpointSlice
		target       target
		want         []string
		wantProblems []string
		usedTerm     bool
	}{
		{
			name: "all slices merged, sorted",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "echo-b", v4, grpc, ep{ip: "10.0.0.3"}, ep{ip: "10.0.0.1"}),
				slice("ns", "echo", "echo-a", v4, grpc, ep{ip: "10.0.0.2"}),
			},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"},
		},
		{
			name:   "numeric port used as given",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc, ep{ip: "10.0.0.1"})},
			target: tgt(portSpec{number: 9090}),
			want:   []string{"10.0.0.1:9090"},
		},
		{
			name: "named port resolved per slice",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "old", v4, []discoveryv1.EndpointPort{tcpPort("grpc", 8080)}, ep{ip: "10.0.0.1"}),
				slice("ns", "echo", "new", v4, []discoveryv1.EndpointPort{tcpPort("metrics", 9100), tcpPort("grpc", 9090)}, ep{ip: "10.0.0.2"}),
			},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080", "10.0.0.2:9090"},
		},
		{
			name: "slice without the named port skipped",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "a", v4, grpc, ep{ip: "10.0.0.1"}),
				slice("ns", "echo", "b", v4, []discoveryv1.EndpointPort{tcpPort("http", 80)}, ep{ip: "10.0.0.2"}),
			},
			target:       tgt(named),
			want:         []string{"10.0.0.1:8080"},
			wantProblems: []string{`EndpointSlice b: no TCP port named "grpc" (ports: http=80)`},
		},
		{
			name:   "no port in the target: the only port",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, []discoveryv1.EndpointPort{tcpPort("", 7000)}, ep{ip: "10.0.0.1"})},
			target: tgt(portSpec{}),
			want:   []string{"10.0.0.1:7000"},
		},
		{
			name:         "no port in the target and two ports",
			slices:       []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, []discoveryv1.EndpointPort{tcpPort("a", 1), tcpPort("b", 2)}, ep{ip: "10.0.0.1"})},
			target:       tgt(portSpec{}),
			wantProblems: []string{"EndpointSlice a: the target names no port and the slice has 2 TCP ports (a=1, b=2); add :port or :name to the target"},
		},
		{
			name: "not ready left out; terminating drained",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc,
				ep{ip: "10.0.0.1"}, ep{ip: "10.0.0.2", notReady: true}, ep{ip: "10.0.0.3", terminating: true}, ep{ip: "10.0.0.4", terminating: true, notServing: true})},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080"},
		},
		{
			name: "terminating served with terminating=serve",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc,
				ep{ip: "10.0.0.1"}, ep{ip: "10.0.0.3", terminating: true}, ep{ip: "10.0.0.4", terminating: true, notServing: true})},
			target: tgt(named, serve),
			want:   []string{"10.0.0.1:8080", "10.0.0.3:8080"},
		},
		{
			name: "no ready endpoint: terminating ones that serve are used",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc,
				ep{ip: "10.0.0.2", notReady: true}, ep{ip: "10.0.0.3", terminating: true}, ep{ip: "10.0.0.4", terminating: true, notServing: true})},
			target:   tgt(named),
			want:     []string{"10.0.0.3:8080"},
			usedTerm: true,
		},
		{
			name:   "nil conditions mean ready",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc, ep{ip: "10.0.0.1", nilConditions: true})},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080"},
		},
		{
			name: "an address in two slices keeps its best condition",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "a", v4, grpc, ep{ip: "10.0.0.1", notReady: true}),
				slice("ns", "echo", "b", v4, grpc, ep{ip: "10.0.0.1"}),
			},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080"},
		},
		{
			name: "dual stack: a pod's two addresses make one endpoint",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "v6", v6, grpc, ep{ip: "2001:db8::1", pod: "p1"}, ep{ip: "2001:db8::2", pod: "p2"}),
				slice("ns", "echo", "v4", v4, grpc, ep{ip: "10.0.0.1", pod: "p1"}, ep{ip: "10.0.0.2", pod: "p2"}),
			},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080,[2001:db8::1]:8080", "10.0.0.2:8080,[2001:db8::2]:8080"},
		},
		{
			name: "family=ipv6",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "v6", v6, grpc, ep{ip: "2001:db8:0:0::1", pod: "p1"}),
				slice("ns", "echo", "v4", v4, grpc, ep{ip: "10.0.0.1", pod: "p1"}),
			},
			target: tgt(named, only6),
			want:   []string{"[2001:db8::1]:8080"},
		},
		{
			name: "family=ipv4",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "v6", v6, grpc, ep{ip: "2001:db8::1", pod: "p1"}),
				slice("ns", "echo", "v4", v4, grpc, ep{ip: "10.0.0.1", pod: "p1"}),
			},
			target: tgt(named, only4),
			want:   []string{"10.0.0.1:8080"},
		},
		{
			name:   "FQDN endpoints with fqdn=include",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", discoveryv1.AddressTypeFQDN, grpc, ep{ip: "db.example.com"})},
			target: tgt(named, func(o *Options) { o.IncludeFQDN = true }),
			want:   []string{"db.example.com:8080"},
		},
		{
			name: "FQDN slices ignored by default, as kube-proxy does",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "echo", "a", discoveryv1.AddressTypeFQDN, grpc, ep{ip: "db.example.com"}),
				slice("ns", "echo", "b", v4, grpc, ep{ip: "10.0.0.1", pod: "p1"}),
			},
			target:       tgt(named),
			want:         []string{"10.0.0.1:8080"},
			wantProblems: []string{"EndpointSlice a: FQDN addresses, ignored as kube-proxy ignores them (option fqdn=include uses them)"},
		},
		{
			name: "garbage addresses skipped with a reason",
			slices: []*discoveryv1.EndpointSlice{slice("ns", "echo", "a", v4, grpc,
				ep{ip: "10.0.0.1"}, ep{ip: "2001:db8::1"}, ep{ip: "not-an-ip"}, ep{ip: "10.0.0.256"})},
			target: tgt(named),
			want:   []string{"10.0.0.1:8080"},
			wantProblems: []string{
				`EndpointSlice a endpoint 1: "2001:db8::1" is not an IPv4 address`,
				`EndpointSlice a endpoint 2: "not-an-ip" is not an IPv4 address`,
				`EndpointSlice a endpoint 3: "10.0.0.256" is not an IPv4 address`,
			},
		},
		{
			name:   "no slices",
			target: tgt(named),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := endpointsFrom(tc.slices, tc.target)
			if !slices.Equal(addrsOf(got.endpoints), tc.want) {
				t.Errorf("endpoints %q, want %q", addrsOf(got.endpoints), tc.want)
			}
			if !slices.Equal(got.problems, tc.wantProblems) {
				t.Errorf("problems %q, want %q", got.problems, tc.wantProblems)
			}
			if got.usedTerminating != tc.usedTerm {
				t.Errorf("usedTerminating %v, want %v", got.usedTerminating, tc.usedTerm)
			}
		})
	}
}

func TestEndpointInfo(t *testing.T) {
	s := slice("ns", "echo", "a", v4, []discoveryv1.EndpointPort{tcpPort("grpc", 8080)},
		ep{ip: "10.0.0.1", pod: "echo-1", zone: "zone-a", node: "node-1", hostname: "h1"},
		ep{ip: "10.0.0.2", terminating: true})
	set := endpointsFrom([]*discoveryv1.EndpointSlice{s}, target{namespace: "ns", service: "echo", port: portSpec{name: "grpc"}, opts: Options{Terminating: TerminatingServe}})
	if len(set.endpoints) != 2 {
		t.Fatalf("got %d endpoints", len(set.endpoints))
	}
	want := []Info{
		{Namespace: "ns", Service: "echo", Kind: "Pod", Name: "echo-1", Zone: "zone-a", NodeName: "node-1", Hostname: "h1"},
		{Namespace: "ns", Service: "echo", Terminating: true},
	}
	for i, ep := range set.endpoints {
		info, ok := InfoFromEndpoint(ep)
		if !ok || info != want[i] {
			t.Errorf("endpoint %d: info %+v (%v), want %+v", i, info, ok, want[i])
		}
		if z := endpoint.Zone(ep); z != want[i].Zone {
			t.Errorf("endpoint %d: endpoint.Zone %q, want %q", i, z, want[i].Zone)
		}
	}
}

// FuzzEndpointsFrom feeds garbage slices (as the API server's JSON would
// carry them) to the conversion: it must never panic, and every published
// address must be a host:port.
func FuzzEndpointsFrom(f *testing.F) {
	seed := slice("ns", "echo", "a", v4, []discoveryv1.EndpointPort{tcpPort("grpc", 8080)}, ep{ip: "10.0.0.1", pod: "p"}, ep{ip: "10.0.0.2", terminating: true})
	b, _ := json.Marshal(seed)
	f.Add(b, "grpc")
	f.Add([]byte(`{"addressType":"IPv6","endpoints":[{"addresses":["::1","x"]},{"addresses":[]}],"ports":[{"port":null}]}`), "")
	f.Add([]byte(`{"addressType":"FQDN","endpoints":[{"addresses":["-bad-"],"conditions":{"ready":false,"serving":true,"terminating":true}}]}`), "8080")
	f.Fuzz(func(t *testing.T, data []byte, port string) {
		var s discoveryv1.EndpointSlice
		if json.Unmarshal(data, &s) != nil {
			return
		}
		ps, err := parsePort(port)
		if err != nil && port != "" {
			return
		}
		for _, mode := range []TerminatingMode{TerminatingDrain, TerminatingServe} {
			set := endpointsFrom([]*discoveryv1.EndpointSlice{&s, &s}, target{service: "echo", port: ps, opts: Options{Terminating: mode}})
			for _, ep := range set.endpoints {
				if len(ep.Addresses) == 0 {
					t.Fatal("endpoint without address")
				}
				for _, a := range ep.Addresses {
					if !strings.Contains(a.Addr, ":") {
						t.Fatalf("address %q has no port", a.Addr)
					}
				}
			}
		}
	})
}

// The memo gives the same sets as reading every slice, through changes,
// additions and removals of slices; it re-reads a slice whose
// resourceVersion changed, and forgets the slices that are gone.
func TestSliceMemo(t *testing.T) {
	tg := target{namespace: "ns", service: "echo", port: portSpec{name: "grpc"}}
	ports := []discoveryv1.EndpointPort{tcpPort("grpc", 8080)}
	mk := func(name, version string, eps ...ep) *discoveryv1.EndpointSlice {
		s := slice("ns", "echo", name, v4, ports, eps...)
		s.UID = types.UID("uid-" + name)
		s.ResourceVersion = version
		return s
	}
	a1 := mk("a", "1", ep{ip: "10.0.0.1", pod: "p1"}, ep{ip: "10.0.0.2", pod: "p2"})
	b1 := mk("b", "1", ep{ip: "10.0.0.3", pod: "p3"})
	// A dual-stack pod: its v6 address joins its v4 one in one endpoint.
	c1 := slice("ns", "echo", "c", discoveryv1.AddressTypeIPv6, ports, ep{ip: "2001:db8::3", pod: "p3"})
	c1.UID, c1.ResourceVersion = "uid-c", "1"
	a2 := mk("a", "2", ep{ip: "10.0.0.1", pod: "p1"}, ep{ip: "10.0.0.9", pod: "p9", zone: "z"})
	// Same version, other content: the memo trusts the version (the API
	// server never reuses one), so it still reads the old content.
	b1Stale := mk("b", "1", ep{ip: "10.0.0.7", pod: "p7"})
	b2 := mk("b", "2", ep{ip: "10.0.0.3", pod: "p3", terminating: true}, ep{ip: "10.0.0.4", pod: "p4"})

	memo := newSliceMemo()
	steps := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   []*discoveryv1.EndpointSlice // what a full read must agree with
		cached int                          // slices in the memo after the step
	}{
		{"first listing", []*discoveryv1.EndpointSlice{a1, b1, c1}, nil, 3},
		{"one slice changed", []*discoveryv1.EndpointSlice{a2, b1, c1}, nil, 3},
		{"same version", []*discoveryv1.EndpointSlice{a2, b1Stale, c1}, []*discoveryv1.EndpointSlice{a2, b1, c1}, 3},
		{"new version", []*discoveryv1.EndpointSlice{a2, b2, c1}, nil, 3},
		{"slice deleted", []*discoveryv1.EndpointSlice{b2}, nil, 1},
		{"none", nil, nil, 0},
		{"back", []*discoveryv1.EndpointSlice{a1, b2, c1}, nil, 3},
	}
	for _, st := range steps {
		got := memo.endpointsFrom(st.slices, tg)
		want := st.want
		if want == nil {
			want = st.slices
		}
		full := endpointsFrom(want, tg)
		if !slices.Equal(got.fingerprints, full.fingerprints) || !slices.Equal(addrsOf(got.endpoints), addrsOf(full.endpoints)) {
			t.Errorf("%s: memo gives %q, a full read %q", st.name, got.fingerprints, full.fingerprints)
		}
		if len(got.fingerprints) != len(got.endpoints) {
			t.Errorf("%s: %d fingerprints for %d endpoints", st.name, len(got.fingerprints), len(got.endpoints))
		}
		if n := len(memo.entries); n != st.cached {
			t.Errorf("%s: %d slices in the memo, want %d", st.name, n, st.cached)
		}
	}
	// The dual-stack endpoint has both addresses, v4 first, and its own
	// fingerprint.
	set := memo.endpointsFrom([]*discoveryv1.EndpointSlice{a1, b1, c1}, tg)
	for i, e := range set.endpoints {
		if e.Addresses[0].Addr == "10.0.0.3:8080" {
			if len(e.Addresses) != 2 || e.Addresses[1].Addr != "[2001:db8::3]:8080" || !strings.Contains(set.fingerprints[i], "[2001:db8::3]:8080") {
				t.Errorf("dual-stack endpoint %v, fingerprint %q", e.Addresses, set.fingerprints[i])
			}
		}
	}
}
