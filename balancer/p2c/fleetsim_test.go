package p2c

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// fleetSim plays traffic through the real balancer and picker on a virtual
// clock: callers in a closed loop, or calls arriving at a fixed rate, each
// taking the latency the test's model gives the backend picked, failing
// with DeadlineExceeded when that is beyond the deadline. Hooks change the
// fleet at set times (a backend killed and restarted, say). Minutes of
// traffic take a fraction of a second, and what the policy does is
// measured, not timed.
type fleetSim struct {
	t  *testing.T
	b  *p2cBalancer
	cc *balancertest.ClientConn

	// latency of a call to addr started at virtual time at.
	latency func(addr string, at time.Duration) time.Duration
	// deadline of every call; 0: none.
	deadline time.Duration
	// callers in a closed loop, or, if zero, rate calls a second.
	callers int
	rate    float64

	hooks []simHook
	calls []fleetCall
	start int64
	q     timeQueue[simEvent]
}

type simHook struct {
	at time.Duration
	do func(s *fleetSim, now int64)
}

// fleetCall is one call of a simulation.
type fleetCall struct {
	addr   string
	at     time.Duration // started, since the simulation began
	failed bool
}

type simEvent struct {
	at   int64
	tr   *tracker // nil: an arrival (open loop)
	addr string
	err  error
	call int // index in calls
}

func (e simEvent) time() int64 { return e.at }

// timeQueue is a container/heap of a simulation's events, earliest first.
type timeQueue[E interface{ time() int64 }] []E

func (q timeQueue[E]) Len() int           { return len(q) }
func (q timeQueue[E]) Less(i, j int) bool { return q[i].time() < q[j].time() }
func (q timeQueue[E]) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *timeQueue[E]) Push(x any)        { *q = append(*q, x.(E)) }
func (q *timeQueue[E]) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

var errDeadline = status.Error(codes.DeadlineExceeded, "deadline exceeded")

func newFleetSim(t *testing.T, n int, config string) *fleetSim {
	t.Helper()
	b, cc, _ := build(t, n, config)
	return &fleetSim{t: t, b: b, cc: cc}
}

// call starts one call at now.
func (s *fleetSim) call(now int64) {
	p, ok := s.cc.State().Picker.(*picker)
	if !ok {
		s.t.Fatalf("at %v: no P2C picker (%T)", time.Duration(now-s.start), s.cc.State().Picker)
	}
	res, tr, err := p.pick(pickInfo, now)
	if err != nil {
		s.t.Fatal(err)
	}
	addr := addrOf(res)
	at := time.Duration(now - s.start)
	d := s.latency(addr, at)
	ev := simEvent{at: now + int64(d), tr: tr, addr: addr, call: len(s.calls)}
	if s.deadline > 0 && d > s.deadline {
		ev.at, ev.err = now+int64(s.deadline), errDeadline
	}
	heap.Push(&s.q, ev)
	s.calls = append(s.calls, fleetCall{addr: addr, at: at, failed: ev.err != nil})
}

// run plays length of virtual time.
func (s *fleetSim) run(length time.Duration) {
	s.t.Helper()
	s.start = nanotime()
	end := s.start + int64(length)
	if s.callers > 0 {
		for range s.callers {
			s.call(s.start)
		}
	} else {
		heap.Push(&s.q, simEvent{at: s.start})
	}
	hooks := s.hooks
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(simEvent)
		for len(hooks) > 0 && s.start+int64(hooks[0].at) <= e.at {
			hooks[0].do(s, s.start+int64(hooks[0].at))
			hooks = hooks[1:]
		}
		if e.at >= end {
			break
		}
		if e.tr == nil { // an arrival
			s.call(e.at)
			heap.Push(&s.q, simEvent{at: e.at + int64(float64(time.Second)/s.rate)})
			continue
		}
		info := success
		if e.err != nil {
			info = balancer.DoneInfo{Err: e.err, BytesSent: true}
			s.calls[e.call].failed = true
		}
		e.tr.finishAt(info, e.at)
		if s.callers > 0 {
			s.call(e.at)
		}
	}
	// Finish what is left, so that no tracker leaks into the next test.
	for s.q.Len() > 0 {
		if e := heap.Pop(&s.q).(simEvent); e.tr != nil {
			e.tr.finishAt(noSample, e.at)
		}
	}
}

// kill makes the backend at addr fail every call in flight with
// Unavailable at now and drops its connection (its SubConn goes IDLE); a
// restart hook brings it back.
func (s *fleetSim) kill(addr string, now int64) {
	for i := range s.q {
		if s.q[i].addr == addr && s.q[i].tr != nil {
			s.q[i].at, s.q[i].err = now, status.Error(codes.Unavailable, "connection reset")
		}
	}
	heap.Init(&s.q)
	s.subConn(addr).SetState(connectivity.Idle)
}

// restart reconnects the backend at addr, waiting (in real time, with a
// deadline) for the balancer to put it back in the picker.
func (s *fleetSim) restart(addr string) {
	s.t.Helper()
	wait.For(s.t, 10*time.Second, addr+" to reconnect", func() bool {
		s.cc.Settle()
		p, ok := s.cc.State().Picker.(*picker)
		if !ok {
			return false
		}
		for _, e := range p.endpoints {
			if e.stats == s.b.statsOf(addr) && e.stats != nil {
				return true
			}
		}
		return false
	})
}

func (s *fleetSim) subConn(addr string) *balancertest.SubConn {
	for _, c := range s.cc.SubConns() {
		if c.Addrs[0].Addr == addr {
			return c
		}
	}
	s.t.Fatalf("no SubConn for %s", addr)
	return nil
}

// perWindow counts calls per backend in windows of w from `from` to `to`.
func perWindow(calls []fleetCall, addrs []string, from, to, w time.Duration) [][]int {
	idx := make(map[string]int, len(addrs))
	for i, a := range addrs {
		idx[a] = i
	}
	n := int((to - from) / w)
	out := make([][]int, n)
	for i := range out {
		out[i] = make([]int, len(addrs))
	}
	for _, c := range calls {
		if c.at < from || c.at >= to {
			continue
		}
		if k := int((c.at - from) / w); k < n {
			out[k][idx[c.addr]]++
		}
	}
	return out
}

// maxMin is max/min of counts (+Inf if a count is 0).
func maxMin(counts []int) float64 {
	lo, hi := math.MaxInt, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	if lo == 0 {
		return math.Inf(1)
	}
	return float64(hi) / float64(lo)
}

// spread returns the worst max/min over 1s windows and the max/min over
// the whole span, of calls per backend.
func spread(calls []fleetCall, addrs []string, from, to time.Duration) (window, run float64) {
	total := make([]int, len(addrs))
	for _, counts := range perWindow(calls, addrs, from, to, time.Second) {
		window = max(window, maxMin(counts))
		for i, c := range counts {
			total[i] += c
		}
	}
	return window, maxMin(total)
}

// failed returns how many of the calls failed.
func (s *fleetSim) failed() int {
	n := 0
	for _, c := range s.calls {
		if c.failed {
			n++
		}
	}
	return n
}

// backToShare returns how long after since the backend at addr first
// served at least frac of its fair share (1/len(addrs)) of the calls over
// a 1s window (windows start every 100ms), and false if it never did.
func backToShare(calls []fleetCall, addr string, n int, since, end time.Duration, frac float64) (time.Duration, bool) {
	for from := since; from+time.Second <= end; from += 100 * time.Millisecond {
		mine, all := 0, 0
		for _, c := range calls {
			if c.at >= from && c.at < from+time.Second && !c.failed {
				all++
				if c.addr == addr {
					mine++
				}
			}
		}
		if all > 0 && float64(mine) >= frac*float64(all)/float64(n) {
			return from - since, true
		}
	}
	return 0, false
}

// noisy returns a latency model: base × a log-normal factor (σ), with a
// spike of spikeX × base in a fraction spikeP of calls (a GC pause, a
// scheduler hiccup).
func noisy(base time.Duration, sigma, spikeP, spikeX float64) func() time.Duration {
	return func() time.Duration {
		d := float64(base) * math.Exp(sigma*rand.NormFloat64())
		if rand.Float64() < spikeP {
			d += spikeX * float64(base)
		}
		return time.Duration(d)
	}
}

func addrs(n int) []string {
	out := make([]string, n)
	for i, e := range balancertest.Endpoints(n) {
		out[i] = e.Addresses[0].Addr
	}
	return out
}
