package wrr

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// countIn counts the appearances of each endpoint in a table.
func countIn(table []uint32, n int) []uint64 {
	c := make([]uint64, n)
	for _, i := range table {
		c[i]++
	}
	return c
}

func TestLayoutExactWeights(t *testing.T) {
	for _, tc := range []struct {
		weights []uint32
		want    []uint32 // the table
	}{
		{[]uint32{1}, []uint32{0}},
		{[]uint32{7}, []uint32{0}},
		{[]uint32{1, 1, 1}, []uint32{0, 1, 2}},
		{[]uint32{5, 5, 5, 5}, []uint32{0, 1, 2, 3}},
		{[]uint32{1, 2, 3}, []uint32{2, 1, 0, 2, 1, 2}},
		{[]uint32{100, 200, 300}, []uint32{2, 1, 0, 2, 1, 2}},
		{[]uint32{0, 1}, []uint32{0, 1}}, // 0 is 1
		{[]uint32{1, 3}, []uint32{1, 0, 1, 1}},
		{[]uint32{4, 1}, []uint32{0, 0, 1, 0, 0}},
	} {
		got := layout(slotCounts(tc.weights, nil))
		if !slices.Equal(got, tc.want) {
			t.Errorf("weights %v: table %v, want %v", tc.weights, got, tc.want)
		}
	}
}

// The table holds each endpoint exactly its count, and spreads its slots
// evenly: in every prefix of the table (and so, the table being walked in a
// cycle, in any run of consecutive picks) each endpoint has its
// proportional share of the slots within 1.5, however many endpoints there
// are. A heavy endpoint does not get its calls in bursts, nor a light one
// wait long.
func TestLayoutIsSmooth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		n := 1 + rng.IntN(30)
		weights := make([]uint32, n)
		for i := range weights {
			weights[i] = 1 + uint32(rng.IntN(50))
		}
		counts := slotCounts(weights, nil)
		table := layout(counts)
		if got := countIn(table, n); !slices.Equal(got, counts) {
			t.Fatalf("trial %d, weights %v: table holds %v, want %v", trial, weights, got, counts)
		}
		L := float64(len(table))
		seen := make([]float64, n)
		for m, e := range table {
			seen[e]++
			for i := range n {
				if d := seen[i] - float64(m+1)*float64(counts[i])/L; math.Abs(d) > 1.5 {
					t.Fatalf("trial %d, weights %v: after %d slots endpoint %d has %v, %.2f off its share; table %v",
						trial, weights, m+1, i, seen[i], d, table)
				}
			}
		}
	}
}

// Integer weights are exact while their reduced sum fits the table.
func TestSlotCountsExact(t *testing.T) {
	for _, tc := range []struct {
		weights []uint32
		want    []uint64
	}{
		{[]uint32{1, 2, 3}, []uint64{1, 2, 3}},
		{[]uint32{10, 20, 30}, []uint64{1, 2, 3}},
		{[]uint32{3, 5}, []uint64{3, 5}},
		{[]uint32{1, maxTableLen - 1}, []uint64{1, maxTableLen - 1}},
		{[]uint32{math.MaxUint32, math.MaxUint32}, []uint64{1, 1}},
	} {
		if got := slotCounts(tc.weights, nil); !slices.Equal(got, tc.want) {
			t.Errorf("slotCounts(%v) = %v, want %v", tc.weights, got, tc.want)
		}
	}
}

// Weights that do not fit, and ramp factors, are rounded: every endpoint
// gets a slot, and shares are within 1/precision of exact, relative to the
// smallest, or within a slot of the largest table allowed, plus the
// one-slot floor.
func TestSlotCountsRounded(t *testing.T) {
	for _, tc := range []struct {
		weights []uint32
		factors []float64
	}{
		{[]uint32{1, 1, 1, 1}, []float64{1, 1, 1, 0.1}},
		{[]uint32{1, 1, 1, 1}, []float64{1, 1, 1, 0.537}},
		{[]uint32{1, 1, 1, 1}, []float64{0.31, 0.52, 0.97, 0.1}},
		{[]uint32{1, 2, 3}, []float64{0.1, 0.1, 0.1}},
		{[]uint32{5, 1000}, []float64{0.333, 1}},
		{[]uint32{7, 100000}, nil},
		{[]uint32{1, 1, math.MaxUint32}, nil},
		{[]uint32{1, 1, 1}, []float64{0, 0, 0}},
		{[]uint32{1, 1, 1}, []float64{0, 0.5, 1}},
	} {
		t.Run(fmt.Sprint(tc.weights, tc.factors), func(t *testing.T) {
			counts := slotCounts(tc.weights, tc.factors)
			var total uint64
			for _, c := range counts {
				if c == 0 {
					t.Fatalf("counts %v: an endpoint has no slot", counts)
				}
				total += c
			}
			if total > maxTableLen+uint64(len(counts)) {
				t.Fatalf("counts %v: %d slots, over the bound", counts, total)
			}
			eff := make([]float64, len(tc.weights))
			var sum float64
			smallest := math.Inf(1)
			for i, w := range tc.weights {
				eff[i] = float64(w)
				if tc.factors != nil {
					eff[i] *= tc.factors[i]
				}
				sum += eff[i]
				if eff[i] > 0 {
					smallest = min(smallest, eff[i])
				}
			}
			if sum == 0 {
				if !allEqual(counts) {
					t.Errorf("counts %v for weights all 0, want equal", counts)
				}
				return
			}
			// Allowed error of a share: the precision of the smallest, or
			// one slot of the largest table allowed, plus a slot for each
			// endpoint raised to the one-slot floor.
			limit := float64(min(max(minRoundedLen, slotsPerEndpoint*len(counts)), maxTableLen))
			tol := max(smallest/sum/precision, 1/limit)
			for i := range eff {
				if eff[i]/sum*limit < 1 {
					tol += 1 / limit
				}
			}
			for i := range counts {
				share, want := float64(counts[i])/float64(total), eff[i]/sum
				if math.Abs(share-want) > tol+1e-12 {
					t.Errorf("counts %v: endpoint %d has a share of %.6f, want %.6f ± %.6f", counts, i, share, want, tol)
				}
			}
		})
	}
}

func allEqual(c []uint64) bool {
	for _, x := range c {
		if x != c[0] {
			return false
		}
	}
	return true
}

// More endpoints than the table's bound: each still gets a slot.
func TestSlotCountsManyEndpoints(t *testing.T) {
	n := maxTableLen + 10
	weights := make([]uint32, n)
	factors := make([]float64, n)
	for i := range weights {
		weights[i] = 1 + uint32(i%3)
		factors[i] = 1
	}
	factors[0] = 0.1
	counts := slotCounts(weights, factors)
	table := layout(counts)
	got := countIn(table, n)
	for i, c := range got {
		if c == 0 {
			t.Fatalf("endpoint %d has no slot", i)
		}
	}
	if len(table) > 2*maxTableLen+n {
		t.Errorf("table of %d slots for %d endpoints", len(table), n)
	}
}

// BenchmarkBuildTable measures building a picker's table during a ramp
// (one endpoint of n at 10% of its weight, weights 1..10): the balancer's
// work every rebuild interval, off the RPCs' path.
func BenchmarkBuildTable(b *testing.B) {
	for _, n := range []int{4, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			weights := make([]uint32, n)
			factors := make([]float64, n)
			for i := range weights {
				weights[i], factors[i] = uint32(1+i%10), 1
			}
			factors[0] = 0.1
			b.ReportAllocs()
			var slots int
			for b.Loop() {
				slots = len(layout(slotCounts(weights, factors)))
			}
			b.ReportMetric(float64(slots), "slots")
		})
	}
}

// layout is the earliest deadline first order: it matches a plain EDF
// scheduler that, for every slot, picks the endpoint whose next appearance
// has the earliest deadline (k + 1/2) / count, the lowest index on a tie.
func TestLayoutMatchesEDF(t *testing.T) {
	edf := func(counts []uint64) []uint32 {
		var total uint64
		for _, c := range counts {
			total += c
		}
		k := make([]uint64, len(counts))
		var table []uint32
		for range total {
			best := -1
			for i, c := range counts {
				if k[i] == c {
					continue
				}
				if best < 0 || (2*k[i]+1)*counts[best] < (2*k[best]+1)*c {
					best = i
				}
			}
			table = append(table, uint32(best))
			k[best]++
		}
		return table
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		n := 1 + rng.IntN(12)
		counts := make([]uint64, n)
		for i := range counts {
			counts[i] = 1 + uint64(rng.IntN(1+rng.IntN(60)))
		}
		if got, want := layout(counts), edf(counts); !slices.Equal(got, want) {
			t.Fatalf("trial %d, counts %v:\nlayout %v\nEDF    %v", trial, counts, got, want)
		}
	}
}
