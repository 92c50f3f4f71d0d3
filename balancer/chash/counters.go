package chash

import (
	"sync/atomic"

	"google.golang.org/grpc/balancer"
)

// counter is an endpoint's calls in flight (bounded loads) and the Done
// that counts one of them out, made once so that a pick allocates nothing.
// It is 16 bytes, and counters come from blocks of counterBlock (see
// counterPool): with 10,000 endpoints a pick's look at the counters of the
// endpoints it walks past reads a dense 160 kB array, which stays in the
// CPU's cache, rather than 10,000 scattered endpoint records, which do not.
type counter struct {
	n    atomic.Int64
	done func(balancer.DoneInfo)
}

// counterBlock is how many counters a block holds (4 kB).
const counterBlock = 256

// counterPool hands out the counters of one balancer's endpoints. An
// endpoint's counter lives as long as the endpoint, across pickers and
// rings, so that calls in flight are counted through rebuilds; a removed
// endpoint's counter is reused once its calls have all finished. A pick
// on a picker older than the removal may still count a call on it after
// that (grpc-go may finish a pick on the picker it started with): the
// call counts in and out, and only makes the counter's new endpoint look
// one call busier meanwhile. Its methods are called under the balancer's
// lock.
type counterPool struct {
	total   *atomic.Int64 // every endpoint's calls in flight
	free    []*counter
	retired []*counter // of removed endpoints, calls maybe still in flight
}

// get returns a counter at zero.
func (cp *counterPool) get() *counter {
	if len(cp.free) == 0 {
		block := make([]counter, counterBlock)
		total := cp.total
		for i := len(block) - 1; i >= 0; i-- { // handed out in address order
			c := &block[i]
			c.done = func(balancer.DoneInfo) {
				c.n.Add(-1)
				total.Add(-1)
			}
			cp.free = append(cp.free, c)
		}
	}
	c := cp.free[len(cp.free)-1]
	cp.free = cp.free[:len(cp.free)-1]
	return c
}

// put takes back the counter of a removed endpoint.
func (cp *counterPool) put(c *counter) { cp.retired = append(cp.retired, c) }

// reclaim makes the retired counters with no call in flight free again.
func (cp *counterPool) reclaim() {
	keep := cp.retired[:0]
	for _, c := range cp.retired {
		if c.n.Load() == 0 {
			cp.free = append(cp.free, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(cp.retired[len(keep):])
	cp.retired = keep
}
