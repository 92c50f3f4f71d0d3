package subset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// backendKeys returns n distinct addresses.
func backendKeys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.%d:8080", (i>>16)&255, (i>>8)&255, i&255)
	}
	return out
}

// byKey turns an assignment of indexes into one of keys.
func byKey(backends []string, a [][]int) [][]string {
	out := make([][]string, len(a))
	for c, s := range a {
		for _, i := range s {
			out[c] = append(out[c], backends[i])
		}
	}
	return out
}

// stats are the figures the acceptance is about.
type stats struct {
	minConns, maxConns int     // clients per backend
	minLoad, maxLoad   float64 // calls per backend / mean, each client spreading evenly over its subset
}

func measure(backends []string, a [][]string) stats {
	conns := make(map[string]int, len(backends))
	load := make(map[string]float64, len(backends))
	for _, b := range backends {
		conns[b], load[b] = 0, 0
	}
	clients := 0
	for _, s := range a {
		if len(s) == 0 {
			continue
		}
		clients++
		for _, b := range s {
			conns[b]++
			load[b] += 1 / float64(len(s))
		}
	}
	st := stats{minConns: math.MaxInt, minLoad: math.Inf(1)}
	mean := float64(clients) / float64(len(backends))
	for _, b := range backends {
		st.minConns, st.maxConns = min(st.minConns, conns[b]), max(st.maxConns, conns[b])
		st.minLoad, st.maxLoad = min(st.minLoad, load[b]/mean), max(st.maxLoad, load[b]/mean)
	}
	return st
}

// churn counts the memberships of b that a did not have: the connections
// clients must open (as many are closed, plus those of a removed backend).
func churn(a, b [][]string) int {
	n := 0
	for c := range b {
		for _, k := range b[c] {
			if c >= len(a) || !slices.Contains(a[c], k) {
				n++
			}
		}
	}
	return n
}

// sreAssign is the SRE book's deterministic subsetting (chapter 20),
// for comparison: backends sorted, clients in rounds of len/size, each
// round shuffling the backends with the round number as seed and giving
// each of its clients the next size of them; backends left over in a
// round are not used in it.
func sreAssign(backends []string, clientCount, size int) [][]string {
	sorted := slices.Clone(backends)
	sort.Strings(sorted)
	subsetCount := max(1, len(sorted)/size)
	out := make([][]string, clientCount)
	for c := range out {
		round := c / subsetCount
		shuffled := slices.Clone(sorted)
		r := rand.New(rand.NewPCG(uint64(round), 0))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		id := c % subsetCount
		out[c] = shuffled[id*size : min(len(shuffled), (id+1)*size)]
	}
	return out
}

// randomAssign is random subsetting (gRFC A68's random_subsetting): each
// client its own random subset.
func randomAssign(backends []string, clientCount, size int, seed uint64) [][]string {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]string, clientCount)
	for c := range out {
		perm := r.Perm(len(backends))[:min(size, len(backends))]
		for _, i := range perm {
			out[c] = append(out[c], backends[i])
		}
	}
	return out
}

func TestAssignBalance(t *testing.T) {
	for _, tc := range []struct{ clients, backends, size int }{
		{300, 300, 10},
		{300, 299, 10},
		{300, 301, 10},
		{300, 30, 10},
		{300, 1000, 10},
		{7, 100, 10}, // fewer memberships than backends: each backend in 0 or 1 subset
		{1, 5, 3},
		{50, 3, 5}, // subsets of every backend
		{100, 37, 1},
		{13, 17, 16},
		{1000, 5000, 10},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d", tc.clients, tc.backends, tc.size), func(t *testing.T) {
			if raceEnabled && tc.clients*tc.backends > 1e6 {
				t.Skip("too slow under the race detector")
			}
			keys := backendKeys(tc.backends)
			a := Assign(keys, tc.clients, tc.size)
			if len(a) != tc.clients {
				t.Fatalf("%d subsets, want %d", len(a), tc.clients)
			}
			want := min(tc.size, tc.backends)
			for c, s := range a {
				if len(s) != want {
					t.Fatalf("client %d has %d backends, want %d", c, len(s), want)
				}
				seen := make(map[int]bool)
				for _, i := range s {
					if i < 0 || i >= tc.backends || seen[i] {
						t.Fatalf("client %d: subset %v has a bad or repeated index", c, s)
					}
					seen[i] = true
				}
			}
			st := measure(keys, byKey(keys, a))
			if st.maxConns-st.minConns > 1 {
				t.Errorf("clients per backend from %d to %d, want a spread of at most 1", st.minConns, st.maxConns)
			}
			if mean := tc.clients * want / tc.backends; mean >= 10 && (st.minLoad < 0.9 || st.maxLoad > 1.1) {
				t.Errorf("calls per backend from %.3f to %.3f of the mean, want within ±10%%", st.minLoad, st.maxLoad)
			}
			t.Logf("clients per backend %d..%d, load %.3f..%.3f of the mean", st.minConns, st.maxConns, st.minLoad, st.maxLoad)
		})
	}
}

// The assignment depends on the set of backends, not their order: every
// client computes the same one whatever order its resolver lists them in.
func TestAssignIgnoresOrder(t *testing.T) {
	keys := backendKeys(120)
	want := byKey(keys, Assign(keys, 40, 7))
	for seed := range uint64(5) {
		shuffled := slices.Clone(keys)
		rand.New(rand.NewPCG(seed, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := byKey(shuffled, Assign(shuffled, 40, 7))
		for c := range want {
			if !slices.Equal(got[c], want[c]) {
				t.Fatalf("seed %d: client %d gets %v, want %v as with the sorted list", seed, c, got[c], want[c])
			}
		}
	}
}

func TestAssignEdges(t *testing.T) {
	if a := Assign(backendKeys(3), 0, 2); a != nil {
		t.Errorf("no clients: %v, want nil", a)
	}
	for c, s := range Assign(nil, 3, 2) {
		if len(s) != 0 {
			t.Errorf("no backends: client %d gets %v", c, s)
		}
	}
	if s := Subset(backendKeys(3), 3, 3, 2); s != nil {
		t.Errorf("index out of range: %v, want nil", s)
	}
	if s := Subset(backendKeys(3), -1, 3, 2); s != nil {
		t.Errorf("negative index: %v, want nil", s)
	}
	keys := backendKeys(50)
	for c := range 5 {
		if got, want := Subset(keys, c, 5, 4), Assign(keys, 5, 4)[c]; !slices.Equal(got, want) {
			t.Errorf("Subset(%d) = %v, want Assign's %v", c, got, want)
		}
	}
}

// churnBound is the bound on the memberships one added or removed
// backend may change: ⌈size·clients/backends⌉ + 1.
func churnBound(clients, backends, size int) int {
	return (size*clients+backends-1)/backends + 1
}

// TestChurn measures the memberships that change when one backend is added
// or removed, for this package's Assign, the stateful Repair, the SRE
// book's algorithm (a full reshuffle) and the minimum.
func TestChurn(t *testing.T) {
	const clients, n, size = 300, 300, 10
	keys := backendKeys(n + 1)
	base := keys[:n]
	before := byKey(base, Assign(base, clients, size))
	sreBefore := sreAssign(base, clients, size)
	type change struct {
		name     string
		backends []string
	}
	changes := []change{{"add", keys}}
	for _, i := range []int{0, 17, 150, 299} {
		changes = append(changes, change{fmt.Sprintf("remove %d", i), slices.Delete(slices.Clone(base), i, i+1)})
	}
	for _, ch := range changes {
		bound := churnBound(clients, len(base), size)
		after := byKey(ch.backends, Assign(ch.backends, clients, size))
		repaired := Repair(before, ch.backends, size)
		sre := sreAssign(ch.backends, clients, size)
		got, rep, full := churn(before, after), churn(before, repaired), churn(sreBefore, sre)
		t.Logf("%s: memberships changed: Assign (default) %d, Repair (sticky) %d, SRE book reshuffle %d (of %d; bound %d)", ch.name, got, rep, full, clients*size, bound)
		if st := measure(ch.backends, repaired); st.maxConns-st.minConns > 1 {
			t.Errorf("%s: Repair leaves clients per backend from %d to %d", ch.name, st.minConns, st.maxConns)
		}
		if rep > bound {
			t.Errorf("%s: Repair changed %d memberships, want at most %d", ch.name, rep, bound)
		}
		// Assign's figure is about 5 to 8 times the minimum; far below a
		// reshuffle's.
		if got > 12*bound || got*10 > full {
			t.Errorf("%s: Assign changed %d memberships, want at most %d and a tenth of SRE's %d", ch.name, got, 12*bound, full)
		}
	}
}

// Random subsetting, beside it: the same number of connections, but spread
// unevenly (the SRE book's observation, and gRFC A68's).
func TestRandomSubsettingSpread(t *testing.T) {
	keys := backendKeys(300)
	det := measure(keys, byKey(keys, Assign(keys, 300, 10)))
	rnd := measure(keys, randomAssign(keys, 300, 10, 1))
	t.Logf("deterministic: clients per backend %d..%d, load %.2f..%.2f; random: %d..%d, load %.2f..%.2f",
		det.minConns, det.maxConns, det.minLoad, det.maxLoad, rnd.minConns, rnd.maxConns, rnd.minLoad, rnd.maxLoad)
	if rnd.maxConns-rnd.minConns <= 2*(det.maxConns-det.minConns)+2 {
		t.Errorf("random subsetting's spread %d..%d is not wider than deterministic's %d..%d", rnd.minConns, rnd.maxConns, det.minConns, det.maxConns)
	}
}
