package chash

import (
	"math"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Ring sizes (see Config.VirtualNodes).
const (
	autoPointsPerWeight = 1000    // points per unit of weight for small rings
	autoRingSize        = 1 << 16 // automatic rings stay within this many points
	maxRingSize         = 1 << 20 // explicit virtualNodes are scaled down beyond it
)

// ringNode is an endpoint as the ring sees it: the string its points are
// hashed from and its weight. Nodes are given in ring index order.
type ringNode struct {
	key    string
	weight uint32
}

// ring is a ketama-style hash ring. The points of a node are the outputs
// of a SplitMix64 generator seeded with the 64-bit xxhash of the node's key
// (see splitmix), each with its low idxBits replaced by the index of the
// node it belongs to, so one sorted []uint64 holds both positions and
// owners (a point's position is its value with those bits cleared). lut[b]
// is the index of the first point whose top lutBits bits are >= b
// (lut[len(lut)-1] == len(points)); it narrows a search to the few points
// of one bucket. The points are followed, in their spare capacity, by
// searchWidth maximal values.
type ring struct {
	points   []uint64
	lut      []uint32
	mask     uint64 // low bits of a point that hold the node index
	lutShift uint   // 64 - lutBits
}

// pointsPerWeight returns how many points a unit of weight gets for
// virtualNodes vn (0: automatic) and the total weight of the ring.
func pointsPerWeight(vn int, totalWeight uint64) float64 {
	tw := float64(totalWeight)
	if vn == 0 {
		return min(autoPointsPerWeight, autoRingSize/tw)
	}
	return min(float64(vn), maxRingSize/tw)
}

// newRing builds the ring of nodes (at least one) with virtualNodes vn.
// The positions depend only on the nodes' keys and weights and on vn (no
// random seeds, no map iteration); the order of the nodes only gives their
// indexes.
func newRing(nodes []ringNode, vn int) *ring {
	idxBits := bits.Len(uint(len(nodes) - 1))
	mask := uint64(1)<<idxBits - 1
	var totalWeight uint64
	for _, n := range nodes {
		totalWeight += uint64(max(n.weight, 1))
	}
	per := pointsPerWeight(vn, totalWeight)
	seeds := make([]uint64, len(nodes))
	counts := make([]int, len(nodes))
	total := 0
	for i, n := range nodes {
		seeds[i] = xxhash.Sum64String(n.key)
		counts[i] = pointCount(per*float64(max(n.weight, 1)), seeds[i])
		total += counts[i]
	}

	points := make([]uint64, 0, total)
	for idx, x := range seeds {
		for range counts[idx] {
			x += splitmixGamma
			points = append(points, splitmix(x)&^mask|uint64(idx))
		}
	}
	r := &ring{mask: mask}
	r.points, r.lut, r.lutShift = sortPoints(points)
	return r
}

// pointCount returns the number of points of a node whose share of the
// ring is want points (not a whole number, in general) and whose points
// are seeded with seed: floor(want), plus one if the fraction of want
// exceeds a threshold drawn from the seed, and at least one. The count is
// want on average, and when the ring's size per unit of weight shrinks a
// little (the automatic ring of a growing fleet), nodes lose their last
// point one at a time rather than all at once, so a few keys move with
// each change instead of many with one.
func pointCount(want float64, seed uint64) int {
	whole, frac := math.Modf(want)
	n := int(whole)
	if threshold := float64(splitmix(seed)>>11) / (1 << 53); frac > threshold {
		n++
	}
	return max(n, 1)
}

// sortPoints sorts points, which are uniformly distributed hashes, in
// O(n) expected time (a comparison sort of hundreds of thousands of points
// takes several milliseconds): a bucket sort on their top lutBits bits, 2
// to 4 points a bucket, then an insertion sort of each bucket. It returns
// the sorted points, the bucket table (lut[b] is the index of the first
// point whose top lutBits bits are >= b; lut[1<<lutBits] == len(points))
// and the shift that gives a value's bucket.
func sortPoints(points []uint64) (sorted []uint64, lut []uint32, shift uint) {
	lutBits := min(max(bits.Len(uint(len(points)))-2, 0), 24)
	shift = uint(64 - lutBits) // 64 when lutBits is 0: x>>64 == 0 in Go
	nb := 1 << lutBits
	lut = make([]uint32, nb+1)
	for _, p := range points {
		lut[(p>>shift)+1]++
	}
	for b := range nb {
		lut[b+1] += lut[b]
	}
	sorted = make([]uint64, len(points), len(points)+searchWidth)
	for i := range searchWidth { // padding for search, after the last point
		sorted[:cap(sorted)][len(points)+i] = math.MaxUint64
	}
	for _, p := range points { // lut[b] is the next free slot of bucket b
		b := p >> shift
		sorted[lut[b]] = p
		lut[b]++
	}
	copy(lut[1:], lut[:nb]) // lut[b] is now the end of bucket b: shift back
	lut[0] = 0
	for b := range nb {
		insertionSort(sorted[lut[b]:lut[b+1]])
	}
	return sorted, lut, shift
}

// insertionSort sorts a bucket of a few points. A long one (not expected
// of hashes) gets a comparison sort.
func insertionSort(s []uint64) {
	if len(s) > 32 {
		slices.Sort(s)
		return
	}
	for i := 1; i < len(s); i++ {
		v := s[i]
		j := i
		for ; j > 0 && s[j-1] > v; j-- {
			s[j] = s[j-1]
		}
		s[j] = v
	}
}

// search returns the index of the point that owns hash h: the first point
// at or clockwise after h's position.
//
// Binary search mispredicts a branch at almost every step, which costs
// more than the comparisons: search instead counts, without branches, how
// many of the 8 points from the start of h's bucket lie before h. Points
// of later buckets and the padding after the last point are all greater
// than h, so the count is exact unless the bucket has more than 8 points
// (rare with 2 to 4 a bucket), where a loop finishes the count.
func (r *ring) search(h uint64) int {
	t := h &^ r.mask
	b := h >> r.lutShift
	lo := int(r.lut[b])
	w := (*[searchWidth]uint64)(r.points[lo : lo+searchWidth])
	i := lo + less(w[0], t) + less(w[1], t) + less(w[2], t) + less(w[3], t) +
		less(w[4], t) + less(w[5], t) + less(w[6], t) + less(w[7], t)
	if i == lo+searchWidth {
		for hi := int(r.lut[b+1]); i < hi && r.points[i] < t; i++ {
		}
	}
	if i == len(r.points) {
		i = 0
	}
	return i
}

// searchWidth is the number of points search compares at once; the points
// are followed by as many maximal values (in their spare capacity).
const searchWidth = 8

// less returns 1 if a < b, else 0, compiled to a flag-setting instruction.
func less(a, b uint64) int {
	if a < b {
		return 1
	}
	return 0
}

// node returns the index of the node that owns point i.
func (r *ring) node(i int) int { return int(r.points[i] & r.mask) }

// splitmixGamma is SplitMix64's increment (2^64 / the golden ratio).
const splitmixGamma = 0x9e3779b97f4a7c15

// splitmix is SplitMix64's output function (Steele, Lea and Flood, "Fast
// Splittable Pseudorandom Number Generators", 2014): a bijection of the
// 64-bit values that mixes every input bit into every output bit. Point i
// (from 0) of a node with key k is splitmix(xxhash(k) + (i+1) ×
// splitmixGamma): as well spread as hashing "k-i" for every point, five
// times cheaper, and as easy to reproduce elsewhere.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
