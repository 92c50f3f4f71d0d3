package subset

import (
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// Repair returns an assignment of backends to len(prev) clients that keeps
// as many of prev's memberships as balance allows: memberships of backends
// that left are refilled with the least loaded backends, and backends that
// joined take memberships from the most loaded ones, one at a time, until
// every client has min(size, len(backends)) distinct backends and the
// backends' loads differ by at most one. prev[c] and the result's are keys
// of backends, prev typically an earlier result of Repair or of Assign
// (mapped to keys).
//
// Adding or removing one backend changes at most ⌈size·clients/backends⌉
// memberships, the minimum, where Assign changes several times more. But
// the result depends on the history of sets, not on the set alone: clients
// that started at different times, or missed an update, hold different
// assignments, and their subsets together are no longer balanced. The
// policy therefore uses Assign by default, and Repair only when its config
// says "sticky": true (see the package documentation).
func Repair(prev [][]string, backends []string, size int) [][]string {
	keys := slices.Clone(backends)
	sort.Strings(keys)
	keys = slices.Compact(keys)
	n := len(keys)
	index := make(map[string]int, n)
	hb := make([]uint64, n)
	for i, k := range keys {
		index[k] = i
		hb[i] = xxhash.Sum64String(k)
	}
	want := min(size, n)
	load := make([]int, n)
	subsets := make([][]int, len(prev))
	for c, old := range prev {
		s := make([]int, 0, want)
		for _, k := range old {
			if i, ok := index[k]; ok && len(s) < want && !slices.Contains(s, i) {
				s = append(s, i)
				load[i]++
			}
		}
		subsets[c] = s
	}
	// Fill the holes, one membership at a time, with the least loaded
	// backend the client does not have (ties broken by a hash of client
	// and backend, so that holes do not all go to the same backends).
	for c, s := range subsets {
		for len(s) < want {
			best := -1
			var bestScore uint64
			for i := range n {
				if slices.Contains(s, i) {
					continue
				}
				score := mix(hb[i] ^ slotHash(c, len(s)))
				if best < 0 || load[i] < load[best] || (load[i] == load[best] && score > bestScore) {
					best, bestScore = i, score
				}
			}
			s = append(s, best)
			load[best]++
		}
		subsets[c] = s
	}
	rebalance(subsets, load)
	out := make([][]string, len(subsets))
	for c, s := range subsets {
		out[c] = make([]string, len(s))
		for j, i := range s {
			out[c][j] = keys[i]
		}
	}
	return out
}
