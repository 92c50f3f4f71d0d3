package subset

import (
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// Assign gives each of clientCount clients a subset of size backends (all of
// them if there are no more than size), by this package's stable
// deterministic subsetting, and returns out[c], the indexes into backends
// of client c's subset. backends are the keys of the backends (their
// addresses), without duplicates; the result depends on their set, not on
// their order, so every client that sees the same set computes the same
// assignment.
//
// Every client gets exactly min(size, len(backends)) distinct backends,
// and every backend is in ⌊clientCount·size/len(backends)⌋ or one more
// subsets. Adding or removing one backend changes few memberships (see
// the package documentation for the figures; the minimum is the moved
// backend's own share).
//
// The cost is O(clientCount × size × len(backends)) hashes, about 5 ms for
// 300 clients × 300 backends × 10 and 150 ms for 1000 × 5000 × 10.
func Assign(backends []string, clientCount, size int) [][]int {
	if clientCount <= 0 {
		return nil
	}
	out := make([][]int, clientCount)
	n := len(backends)
	if n == 0 || size <= 0 {
		return out
	}
	if size >= n {
		for c := range out {
			out[c] = make([]int, n)
			for i := range n {
				out[c][i] = i
			}
		}
		return out
	}
	// Work in the order of the keys, so that nothing depends on the order
	// the resolver listed them in; map back at the end.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return backends[order[a]] < backends[order[b]] })
	hb := make([]uint64, n)
	for i, o := range order {
		hb[i] = xxhash.Sum64String(backends[o])
	}

	slots := clientCount * size
	q, r := slots/n, slots%n // each backend takes q subsets, r of them q+1
	load := make([]int, n)
	atTop := 0 // backends holding q+1
	subsets := make([][]int, clientCount)
	for c := range subsets {
		subsets[c] = make([]int, 0, size)
	}
	clients := make([]int, clientCount)
	for j := range size {
		// In round j every client fills its j-th slot; the clients go in
		// an order of their own in each round, so that no client always
		// chooses first.
		for c := range clients {
			clients[c] = c
		}
		sort.Slice(clients, func(a, b int) bool {
			return slotHash(clients[a], j) < slotHash(clients[b], j)
		})
		for _, c := range clients {
			hs := slotHash(c, j)
			best, bestFull := -1, -1
			var bestScore, bestFullScore uint64
			for i, h := range hb {
				score := mix(h ^ hs)
				full := load[i] > q || (load[i] == q && atTop >= r)
				if full {
					if bestFull < 0 || score > bestFullScore {
						if !slices.Contains(subsets[c], i) {
							bestFull, bestFullScore = i, score
						}
					}
					continue
				}
				if best < 0 || score > bestScore {
					if !slices.Contains(subsets[c], i) {
						best, bestScore = i, score
					}
				}
			}
			if best < 0 {
				// Every backend with room is in this subset already: take
				// the best full one; rebalance below puts it right.
				best = bestFull
			}
			load[best]++
			if load[best] == q+1 {
				atTop++
			}
			subsets[c] = append(subsets[c], best)
		}
	}
	rebalance(subsets, load)
	for c, s := range subsets {
		out[c] = make([]int, len(s))
		for j, i := range s {
			out[c][j] = order[i]
		}
	}
	return out
}

// rebalance moves memberships from the most to the least loaded backend
// until their loads differ by at most one. It is needed only when the last
// slots of the greedy pass found no backend with room outside their subset,
// which is rare. Each move lowers the spread, so it ends; a client holding
// the most loaded backend but not the least loaded one always exists.
func rebalance(subsets [][]int, load []int) {
	for range len(subsets) * len(load) {
		lo, hi := 0, 0
		for i, l := range load {
			if l < load[lo] {
				lo = i
			}
			if l > load[hi] {
				hi = i
			}
		}
		if load[hi]-load[lo] <= 1 {
			return
		}
		for _, s := range subsets {
			if k := slices.Index(s, hi); k >= 0 && !slices.Contains(s, lo) {
				s[k] = lo
				load[hi]--
				load[lo]++
				break
			}
		}
	}
}

// Subset returns the indexes into backends of client clientIndex's subset:
// Assign(backends, clientCount, size)[clientIndex].
func Subset(backends []string, clientIndex, clientCount, size int) []int {
	if clientIndex < 0 || clientIndex >= clientCount {
		return nil
	}
	return Assign(backends, clientCount, size)[clientIndex]
}

func slotHash(client, slot int) uint64 {
	return mix(uint64(client)<<20 ^ uint64(slot) ^ 0x5bd1e9955bd1e995)
}

// mix is SplitMix64's finalizer: a bijection of 64-bit words that spreads
// every input bit over the output.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
