package outlier

import (
	"math/rand/v2"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"

	"github.com/grpclb/grpclb/internal/policy"
)

// rrPicker is the picker over grpc-go's round_robin, whose picker is
// endpointsharding's: a round robin over the pickers of its READY
// pick_first children. rrPicker does that round robin itself, over the
// SubConns those pickers return, kept side by side with what a pick hands
// gRPC. (Other policies may publish endpointsharding's picker over
// children other than pick_first, whose pickers need not return one
// SubConn: over them the generic picker is used.)
//
// The generic picker calls the child's picker, then its pick_first
// child's picker, then reads the SubConn's wrapper for its ejection flag
// and gRPC's SubConn: three records in three places, which at 10,000
// endpoints miss the CPU's caches (11.7 → 20 ns a pick). rrPicker reads
// one entry of an array that a round robin walks in order.
//
// An endpoint ejected after the picker was built stays in its entries
// until the child hears of the ejection and publishes a new picker, so
// once anything has been ejected since (b.ejections moved), each pick
// reads the wrapper's flag, as the generic picker does.
type rrPicker struct {
	b       *outlierBalancer
	child   balancer.Picker // the child's, which this picker stands for
	entries []rrEntry
	epoch   uint64 // b.ejections when built
	next    atomic.Uint32
}

type rrEntry struct {
	subConn balancer.SubConn // gRPC's
	done    func(balancer.DoneInfo)
	wrapper *subConn
}

// newRRPickerLocked returns an rrPicker standing for the child's picker
// cp, or nil if cp is not endpointsharding's over READY children that
// each pick one SubConn of the current child, none of them ejected.
//
// endpointsharding's picker round-robins over its READY children's
// pickers, in the order of its ChildStates, whenever any child is READY
// (it publishes CONNECTING or IDLE children's pickers only when none is).
//
// It runs on every state change of the child, so it reads as little as
// it can: per READY child its picker (twice) and its SubConn's wrapper,
// and the wrapper's ejection flag only while some endpoint is ejected
// (numEjected counts them, under b.mu as the flags are set). About 150 ns
// an endpoint, mostly cache misses: 1.5 ms at 10,000. (Its pickers hold
// only the current child's SubConns: UpdateState ignores a replaced
// child's states.)
func (b *outlierBalancer) newRRPickerLocked(cp balancer.Picker) *rrPicker {
	children := endpointsharding.ChildStatesFromPicker(cp)
	entries := make([]rrEntry, 0, len(children))
	for _, cs := range children {
		if cs.State.ConnectivityState != connectivity.Ready {
			continue
		}
		sc, ok := policy.SteadySubConn(cs.State.Picker).(*subConn)
		if !ok || b.numEjected > 0 && sc.ejectedCopy.Load() {
			return nil
		}
		entries = append(entries, rrEntry{subConn: sc.SubConn, done: sc.done, wrapper: sc})
	}
	if len(entries) == 0 {
		return nil
	}
	p := &rrPicker{b: b, child: cp, entries: entries, epoch: b.ejections.Load()}
	p.next.Store(rand.Uint32()) // as endpointsharding starts at a random child
	return p
}

func (p *rrPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	n := uint32(len(p.entries))
	for range maxPickAttempts {
		e := &p.entries[p.next.Add(1)%n]
		if p.b.ejections.Load() != p.epoch && e.wrapper.ejectedCopy.Load() {
			continue
		}
		return balancer.PickResult{SubConn: e.subConn, Done: e.done}, nil
	}
	return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
}
