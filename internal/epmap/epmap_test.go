package epmap

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/resolver"
)

func endpoint(addrs ...string) resolver.Endpoint {
	ep := resolver.Endpoint{}
	for _, a := range addrs {
		ep.Addresses = append(ep.Addresses, resolver.Address{Addr: a})
	}
	return ep
}

// sameAsEndpointMap reports whether Key and resolver.EndpointMap agree on
// whether a and b are the same endpoint.
func sameAsEndpointMap(a, b resolver.Endpoint) (keySame, mapSame bool) {
	m := resolver.NewEndpointMap[int]()
	m.Set(a, 1)
	_, mapSame = m.Get(b)
	return Key(a) == Key(b), mapSame
}

func TestKeyAgreesWithEndpointMap(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
	}{
		{"one address, same", []string{"10.0.0.1:80"}, []string{"10.0.0.1:80"}},
		{"one address, other", []string{"10.0.0.1:80"}, []string{"10.0.0.2:80"}},
		{"order does not count", []string{"a:1", "b:2"}, []string{"b:2", "a:1"}},
		{"a subset is another endpoint", []string{"a:1", "b:2"}, []string{"a:1"}},
		{"repeats count", []string{"a:1", "a:1"}, []string{"a:1"}},
		{"joined addresses are not one", []string{"a", "b"}, []string{"ab"}},
		{"a length prefix inside an address", []string{"\x001:a"}, []string{"a"}},
		{"a one-address key that looks like two", []string{"\x001:a1:b"}, []string{"a", "b"}},
		{"a NUL-led address", []string{"\x00"}, []string{"\x00"}},
		{"no addresses", nil, nil},
		{"no addresses and an empty one", nil, []string{""}},
		{"empty addresses", []string{"", ""}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keySame, mapSame := sameAsEndpointMap(endpoint(tt.a...), endpoint(tt.b...))
			if keySame != mapSame {
				t.Errorf("Key says same=%v for %q and %q, resolver.EndpointMap says %v", keySame, tt.a, tt.b, mapSame)
			}
		})
	}
}

func FuzzKey(f *testing.F) {
	f.Add("10.0.0.1:80", "", "10.0.0.1:80", "")
	f.Add("a", "b", "b", "a")
	f.Add("\x001:a1:b", "", "a", "b")
	f.Fuzz(func(t *testing.T, a1, a2, b1, b2 string) {
		for _, pair := range [][2][]string{
			{{a1}, {b1}}, {{a1, a2}, {b1, b2}}, {{a1, a2}, {b1}}, {{a1}, {b1, b2}},
		} {
			keySame, mapSame := sameAsEndpointMap(endpoint(pair[0]...), endpoint(pair[1]...))
			if keySame != mapSame {
				t.Fatalf("Key says same=%v for %q and %q, resolver.EndpointMap says %v", keySame, pair[0], pair[1], mapSame)
			}
		}
	})
}

func TestMapRounds(t *testing.T) {
	var m Map[int]
	round := func(keep map[string]int) {
		t.Helper()
		m.Begin()
		for a, v := range keep {
			slot, _ := m.Keep(endpoint(a))
			*slot = v
		}
		m.End()
	}
	round(map[string]int{"a": 1, "b": 2, "c": 3})
	if v, ok := m.Get(endpoint("b")); !ok || v != 2 {
		t.Fatalf("Get(b) = %d, %v after the first round; want 2, true", v, ok)
	}
	round(map[string]int{"a": 10, "c": 3}) // b left, a changed
	if _, ok := m.Get(endpoint("b")); ok {
		t.Error("b is still there after a round that did not keep it")
	}
	if v, _ := m.Get(endpoint("a")); v != 10 {
		t.Errorf("Get(a) = %d, want 10", v)
	}
	round(map[string]int{"a": 10, "c": 3, "d": 4}) // same size as kept: nothing to drop
	var keys []string
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"a", "c", "d"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	vals := m.Values()
	slices.Sort(vals)
	if want := []int{3, 4, 10}; !slices.Equal(vals, want) {
		t.Errorf("values %d, want %d", vals, want)
	}
	// Keeping one endpoint twice in a round counts it once: the others
	// are still dropped at End.
	m.Begin()
	if _, existed := m.Keep(endpoint("a")); !existed {
		t.Error("Keep(a) says a is new; it was kept in the round before")
	}
	slot, _ := m.Keep(endpoint("a"))
	*slot = 2
	m.End()
	if m.Len() != 1 {
		t.Errorf("Len() = %d after a round that kept only a (twice), want 1", m.Len())
	}
	if v, _ := m.Get(endpoint("a")); v != 2 {
		t.Errorf("Get(a) = %d after setting its slot to 2", v)
	}
	m.Begin()
	if slot, existed := m.Keep(endpoint("e")); existed || *slot != 0 {
		t.Errorf("Keep(e) of a new endpoint = %d, %v; want the zero value, false", *slot, existed)
	}
	m.End()
}

// EndFunc hands over the value of each entry it drops, and only those.
func TestEndFuncReportsDropped(t *testing.T) {
	var m Map[string]
	for _, tc := range []struct {
		keep, wantDropped []string
	}{
		{keep: []string{"a", "b", "c"}},
		{keep: []string{"a", "c"}, wantDropped: []string{"b"}},
		{keep: []string{"c", "d", "d"}, wantDropped: []string{"a"}},
		{keep: []string{"c", "d"}},
		{keep: nil, wantDropped: []string{"c", "d"}},
	} {
		m.Begin()
		for _, a := range tc.keep {
			slot, _ := m.Keep(endpoint(a))
			*slot = "value of " + a
		}
		var dropped []string
		m.EndFunc(func(v string) { dropped = append(dropped, strings.TrimPrefix(v, "value of ")) })
		slices.Sort(dropped)
		if !slices.Equal(dropped, tc.wantDropped) {
			t.Errorf("keeping %q: dropped %q, want %q", tc.keep, dropped, tc.wantDropped)
		}
		if m.Len() != len(slices.Compact(slices.Sorted(slices.Values(tc.keep)))) {
			t.Errorf("keeping %q: Len() = %d", tc.keep, m.Len())
		}
	}
}

// BenchmarkUpdate is one update of a balancer over n endpoints: a Map
// round against a fresh resolver.EndpointMap, as the policies built them
// before.
func BenchmarkUpdate(b *testing.B) {
	const n = 10000
	eps := make([]resolver.Endpoint, n)
	for i := range eps {
		eps[i] = endpoint("10.1." + string(rune('a'+i%26)) + "." + string(rune('a'+i/26%26)) + ":" + string(rune('a'+i/676)))
	}
	b.Run("epmap", func(b *testing.B) {
		var m Map[int]
		for b.Loop() {
			m.Begin()
			for i, ep := range eps {
				slot, _ := m.Keep(ep)
				*slot += i
			}
			m.End()
		}
	})
	b.Run("EndpointMap", func(b *testing.B) {
		old := resolver.NewEndpointMap[int]()
		for b.Loop() {
			next := resolver.NewEndpointMap[int]()
			for i, ep := range eps {
				v, _ := old.Get(ep)
				next.Set(ep, v+i)
			}
			old = next
		}
	})
}
