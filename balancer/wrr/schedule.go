package wrr

import (
	"math"
	"slices"
)

// The schedule of a picker is a table of endpoint indexes, each endpoint
// appearing in proportion to its weight, in the order an earliest deadline
// first scheduler would pick them. Pick walks the table with an atomic
// counter. Building it costs O(len + n log n); picking costs one atomic add,
// a modulo and two loads, whatever the weights.
const (
	// maxTableLen bounds the table, so its memory (4 bytes a slot) and the
	// time to build it stay small. Integer weights whose sum, divided by
	// their greatest common divisor, fits are laid out exactly; others are
	// rounded, to fewer slots when there are few endpoints (see
	// slotsPerEndpoint). Only more than maxTableLen endpoints make a longer
	// table: every READY endpoint gets a slot.
	maxTableLen = 1 << 16
	// precision is the number of slots the smallest share gets, at least,
	// when weights are rounded and the table's bound allows: its share is
	// then within 1/precision of exact, relative to itself, and larger
	// shares are closer.
	precision = 100
	// slotsPerEndpoint and minRoundedLen bound a rounded table below
	// maxTableLen when there are few endpoints: max(minRoundedLen,
	// slotsPerEndpoint × n). The average share is then within about 1/64
	// of exact; the error of any share is below one slot, 1/len of the
	// calls.
	slotsPerEndpoint = 64
	minRoundedLen    = 4096
)

// slotCounts returns how many slots of the table each endpoint gets, for
// the given weights multiplied by factors (nil: all 1). Counts are in
// proportion to the products, every endpoint gets at least one, and they
// have no common divisor: equal weights give a table of one slot each.
func slotCounts(weights []uint32, factors []float64) []uint64 {
	n := len(weights)
	counts := make([]uint64, n)
	if factors == nil {
		// Integer weights: exact when they fit.
		var g, sum uint64
		for i, w := range weights {
			counts[i] = uint64(max(w, 1))
			g = gcd(g, counts[i])
		}
		for i := range counts {
			counts[i] /= g
			sum += counts[i]
		}
		if sum <= maxTableLen {
			return counts
		}
	}

	// Real weights: apportion slots by largest remainder.
	eff := make([]float64, n)
	total, smallest := 0.0, math.Inf(1)
	for i, w := range weights {
		eff[i] = float64(max(w, 1))
		if factors != nil {
			eff[i] *= factors[i]
		}
		total += eff[i]
		if eff[i] > 0 {
			smallest = min(smallest, eff[i])
		}
	}
	if total == 0 || math.IsInf(smallest, 1) {
		for i := range counts {
			counts[i] = 1
		}
		return counts
	}
	limit := float64(min(max(minRoundedLen, slotsPerEndpoint*n), maxTableLen))
	slots := uint64(math.Ceil(min(precision*total/smallest, limit)))
	slots = max(slots, 1)
	rem := make([]float64, n)
	var given uint64
	for i := range eff {
		exact := eff[i] / total * float64(slots)
		counts[i] = uint64(exact)
		rem[i] = exact - float64(counts[i])
		given += counts[i]
	}
	if given < slots {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case rem[a] > rem[b]:
				return -1
			case rem[a] < rem[b]:
				return 1
			}
			return 0
		})
		for _, i := range order[:min(int(slots-given), n)] {
			counts[i]++
		}
	}
	var g uint64
	for i := range counts {
		counts[i] = max(counts[i], 1)
		g = gcd(g, counts[i])
	}
	for i := range counts {
		counts[i] /= g
	}
	return counts
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// layout returns a table in which endpoint i appears counts[i] (at least
// 1) times, in earliest deadline first order: the k-th appearance (from 0)
// of endpoint i has the deadline (k + 1/2) / counts[i], ties going to the
// lower index. So every endpoint's slots are spread evenly over the table
// (weights 1, 2, 3 give 2 1 0 2 1 2), equal counts give 0 1 ... n-1, and in
// any run of consecutive slots each endpoint has its share within about a
// slot and a half.
//
// The appearances are bucket-sorted by their deadline times the table's
// length, then each bucket (one or two items, usually) by exact deadline:
// O(len + n), where a heap would take O(len × log n).
func layout(counts []uint64) []uint32 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	// The k-th appearance of an endpoint of count c goes in bucket
	// floor((2k+1)·total / (2c)), in [0, total). each walks those buckets
	// for one endpoint with additions only: from k to k+1 the numerator
	// grows by 2·total.
	each := func(c uint64, f func(k, b uint64)) {
		den := 2 * c
		q, r := total/den, total%den
		dq, dr := (2*total)/den, (2*total)%den
		for k := range c {
			f(k, q)
			q, r = q+dq, r+dr
			if r >= den {
				q, r = q+1, r-den
			}
		}
	}
	begin := make([]uint32, total+1) // bucket b is items[begin[b]:begin[b+1]]
	for _, c := range counts {
		each(c, func(_, b uint64) { begin[b+1]++ })
	}
	for b := 1; b < len(begin); b++ {
		begin[b] += begin[b-1]
	}
	type item struct {
		idx uint32
		k   uint32 // its k-th appearance
	}
	items := make([]item, total)
	fill := slices.Clone(begin[:total])
	for i, c := range counts {
		each(c, func(k, b uint64) {
			items[fill[b]] = item{idx: uint32(i), k: uint32(k)}
			fill[b]++
		})
	}
	// Within a bucket items are in index order: order them by exact
	// deadline, (2k_a+1)/(2c_a) against (2k_b+1)/(2c_b), keeping index
	// order among equals (an insertion sort, stable). Products are at most
	// 2·total², which fits in 64 bits for any table this package builds.
	before := func(a, b item) bool {
		return (2*uint64(a.k)+1)*counts[b.idx] < (2*uint64(b.k)+1)*counts[a.idx]
	}
	for b := range total {
		in := items[begin[b]:begin[b+1]]
		for j := 1; j < len(in); j++ {
			for m := j; m > 0 && before(in[m], in[m-1]); m-- {
				in[m], in[m-1] = in[m-1], in[m]
			}
		}
	}
	table := make([]uint32, total)
	for j, it := range items {
		table[j] = it.idx
	}
	return table
}
