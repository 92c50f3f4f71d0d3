package chash

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
)

// These tests drive the picker directly, over hand-set endpoint states and
// child pickers that return a SubConn naming their endpoint, so every
// branch of Pick is reached on purpose. balancer_test.go runs the whole
// policy with real pick_first children; e2e_test.go with real backends.

type fakeSubConn struct {
	balancer.SubConn
	idx int // ring node index
}

type fakeChildPicker struct {
	sc  *fakeSubConn
	err error
}

func (p fakeChildPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	if p.err != nil {
		return balancer.PickResult{}, p.err
	}
	return balancer.PickResult{SubConn: p.sc}, nil
}

// pickerEnv is a ring of endpoints whose states a test sets.
type pickerEnv struct {
	t      *testing.T
	cfg    *Config
	ring   *ring
	infos  []*endpointInfo
	total  atomic.Int64
	kicks  []atomic.Int32 // exitIdle calls per endpoint
	picker *picker
}

func newPickerEnv(t *testing.T, configJSON string, weights []uint32) *pickerEnv {
	t.Helper()
	cfg, err := ParseConfig([]byte(configJSON))
	if err != nil {
		t.Fatal(err)
	}
	nodes := testNodes(len(weights))
	env := &pickerEnv{t: t, cfg: cfg, kicks: make([]atomic.Int32, len(weights))}
	counters := &counterPool{total: &env.total}
	for i := range nodes {
		nodes[i].weight = weights[i]
		info := newEndpointInfo(nodes[i].key, counters.get())
		info.hashKey, info.weight = nodes[i].key, weights[i]
		info.exitIdle = func() { env.kicks[i].Add(1) }
		env.infos = append(env.infos, info)
	}
	env.ring = newRing(nodes, cfg.VirtualNodes)
	env.set(connectivity.Ready)
	return env
}

func ones(n int) []uint32 {
	w := make([]uint32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// set gives endpoints the states (the last one repeats for the rest) and
// builds a new picker, as the balancer does on a state change.
func (env *pickerEnv) set(states ...connectivity.State) {
	for i, info := range env.infos {
		st := states[min(i, len(states)-1)]
		cp := fakeChildPicker{sc: &fakeSubConn{idx: i}}
		if st != connectivity.Ready {
			cp = fakeChildPicker{err: fmt.Errorf("endpoint %d is %v", i, st)}
		}
		info.state = balancer.State{ConnectivityState: st, Picker: cp}
	}
	env.picker = newPicker(env.cfg, env.ring, env.infos, &env.total)
}

// setOne changes one endpoint's state and rebuilds the picker.
func (env *pickerEnv) setOne(i int, st connectivity.State) {
	states := make([]connectivity.State, len(env.infos))
	for j, info := range env.infos {
		states[j] = info.state.ConnectivityState
	}
	states[i] = st
	env.set(states...)
}

// pick picks for ctx and returns the endpoint index and the result.
func (env *pickerEnv) pick(ctx context.Context) (int, balancer.PickResult) {
	env.t.Helper()
	res, err := env.picker.Pick(balancer.PickInfo{Ctx: ctx, FullMethodName: "/s/m"})
	if err != nil {
		env.t.Fatalf("Pick: %v", err)
	}
	return res.SubConn.(*fakeSubConn).idx, res
}

func (env *pickerEnv) inflight() []int64 {
	out := make([]int64, len(env.infos))
	for i, info := range env.infos {
		out[i] = info.ctr.n.Load()
	}
	return out
}

// clockwise returns the endpoints in the order a walk from key's owner
// meets them, each once.
func (env *pickerEnv) clockwise(key string) []int {
	r := env.ring
	i := r.search(xxhash64(key))
	var order []int
	seen := map[int]bool{}
	for range len(r.points) {
		if n := r.node(i); !seen[n] {
			seen[n] = true
			order = append(order, n)
		}
		i = (i + 1) % len(r.points)
	}
	return order
}

func keyCtx(k string) context.Context { return WithKey(context.Background(), k) }

func TestPickSameKeySameEndpoint(t *testing.T) {
	env := newPickerEnv(t, `{}`, ones(10))
	seen := map[int]bool{}
	for i := range 1000 {
		k := "user-" + strconv.Itoa(i)
		want := env.ring.owner(k)
		for range 3 {
			got, res := env.pick(keyCtx(k))
			if got != want {
				t.Fatalf("key %q went to %d, its owner is %d", k, got, want)
			}
			res.Done(balancer.DoneInfo{})
		}
		seen[want] = true
	}
	if len(seen) != 10 {
		t.Errorf("1000 keys reached %d of 10 endpoints", len(seen))
	}
	if got := env.total.Load(); got != 0 {
		t.Errorf("in flight after every Done: %d", got)
	}
}

// boundOK checks that no endpoint has more calls in flight than the bound
// allows for the current total: ceil(c × total × w / W) (with equal
// weights, ceil(c × average)).
func (env *pickerEnv) boundOK(c float64, ready []bool) error {
	total := env.total.Load()
	var W float64
	for i, info := range env.infos {
		if ready[i] {
			W += float64(info.weight)
		}
	}
	for i, info := range env.infos {
		got := info.ctr.n.Load()
		limit := int64(math.Ceil(c * float64(total) * float64(info.weight) / W))
		if ready[i] && got > limit {
			return fmt.Errorf("endpoint %d (weight %d) has %d calls in flight of %d, more than ceil(%v × %d × %d / %v) = %d",
				i, info.weight, got, total, c, total, info.weight, W, limit)
		}
	}
	return nil
}

func allReady(n int) []bool {
	r := make([]bool, n)
	for i := range r {
		r[i] = true
	}
	return r
}

// A hot key fills its owner up to the bound, then spills clockwise, and no
// endpoint ever holds more than ceil(c × average) calls.
func TestBoundedLoadsHotKey(t *testing.T) {
	for _, c := range []float64{1.25, 2, 1.01} {
		t.Run(fmt.Sprintf("c=%v", c), func(t *testing.T) {
			const n = 10
			env := newPickerEnv(t, fmt.Sprintf(`{"loadFactor":%v}`, c), ones(n))
			order := env.clockwise("hot")
			var dones []func(balancer.DoneInfo)
			var firstSpill = -1
			for i := range 2000 {
				got, res := env.pick(keyCtx("hot"))
				dones = append(dones, res.Done)
				if got != order[0] && firstSpill < 0 {
					firstSpill = got
					if got != order[1] {
						t.Errorf("pick %d: the first spill went to %d, want the next endpoint clockwise, %d", i, got, order[1])
					}
				}
				if err := env.boundOK(c, allReady(n)); err != nil {
					t.Fatalf("after pick %d: %v", i, err)
				}
			}
			if firstSpill < 0 {
				t.Fatal("2000 calls in flight on one key never left its owner")
			}
			// The calls fill endpoints in clockwise order, each to about
			// c/n of the total, so about n/c of them are used.
			inflight := env.inflight()
			used := 0
			for used < n && inflight[order[used]] > 0 {
				used++
			}
			for _, e := range order[used:] {
				if inflight[e] != 0 {
					t.Errorf("in flight by clockwise order %v: not a prefix", inflight)
				}
			}
			if lo, hi := int(math.Floor(n/c)), int(math.Ceil(n/c))+1; used < lo || used > min(hi, n) {
				t.Errorf("a hot key used %d endpoints, want %d to %d (in flight %v)", used, lo, hi, inflight)
			}
			t.Logf("in flight, clockwise from the owner: %v", func() (s []int64) {
				for _, e := range order {
					s = append(s, inflight[e])
				}
				return s
			}())
			// Done releases every count.
			for _, d := range dones {
				d(balancer.DoneInfo{})
			}
			if env.total.Load() != 0 || env.inflight()[order[0]] != 0 {
				t.Errorf("after every Done: total %d, in flight %v", env.total.Load(), env.inflight())
			}
			// And the hot key is back on its owner.
			if got, res := env.pick(keyCtx("hot")); got != order[0] {
				t.Errorf("after the load went, the hot key went to %d, not its owner %d", got, order[0])
			} else {
				res.Done(balancer.DoneInfo{})
			}
		})
	}
}

// The bound holds for a mix of keys with weights, some endpoints down, and
// calls that end in between.
func TestBoundedLoadsMixed(t *testing.T) {
	const c = 1.25
	weights := []uint32{1, 1, 2, 4, 1, 3, 1, 1}
	env := newPickerEnv(t, `{}`, weights)
	env.set(connectivity.Ready, connectivity.TransientFailure, connectivity.Ready)
	ready := allReady(len(weights))
	ready[1] = false
	var live []func(balancer.DoneInfo)
	for i := range 20000 {
		k := "hot"
		switch i % 4 {
		case 1:
			k = "warm" + strconv.Itoa(i%3)
		case 2:
			k = "cold" + strconv.Itoa(i)
		}
		got, res := env.pick(keyCtx(k))
		if got == 1 {
			t.Fatalf("pick %d went to endpoint 1, which is not READY", i)
		}
		live = append(live, res.Done)
		if err := env.boundOK(c, ready); err != nil {
			t.Fatalf("after pick %d: %v", i, err)
		}
		if i%3 == 0 { // end the oldest call now and then
			live[0](balancer.DoneInfo{})
			live = live[1:]
		}
	}
	for _, d := range live {
		d(balancer.DoneInfo{})
	}
	if env.total.Load() != 0 {
		t.Errorf("after every Done: total %d, in flight %v", env.total.Load(), env.inflight())
	}
}

// With loadFactor 0 a hot key stays on its owner and nothing is counted.
func TestUnbounded(t *testing.T) {
	env := newPickerEnv(t, `{"loadFactor":0}`, ones(10))
	owner := env.ring.owner("hot")
	for range 1000 {
		got, res := env.pick(keyCtx("hot"))
		if got != owner {
			t.Fatalf("the hot key went to %d, its owner is %d", got, owner)
		}
		if res.Done != nil {
			t.Fatal("an unbounded pick has a Done")
		}
	}
	if env.total.Load() != 0 {
		t.Errorf("unbounded picks counted %d calls", env.total.Load())
	}
}

func TestMissingKeyRandom(t *testing.T) {
	env := newPickerEnv(t, `{}`, ones(10))
	env.set(connectivity.Ready, connectivity.Ready, connectivity.Idle, connectivity.TransientFailure, connectivity.Connecting, connectivity.Ready)
	counts := make([]int, 10)
	for _, ctx := range []context.Context{context.Background(), keyCtx("")} {
		for range 5000 {
			got, res := env.pick(ctx)
			counts[got]++
			res.Done(balancer.DoneInfo{})
		}
	}
	for i, c := range counts {
		if ready := i < 2 || i >= 5; ready != (c > 0) {
			t.Errorf("endpoint %d (READY: %v) got %d of 10000 keyless calls", i, ready, c)
		}
	}
	if env.kicks[2].Load() != 0 {
		t.Error("a keyless call woke an IDLE endpoint while others are READY")
	}
}

func TestMissingKeyError(t *testing.T) {
	for _, tt := range []struct{ config, header string }{
		{`{"missingKey":"error"}`, ""},
		{`{"missingKey":"error","hashHeader":"x-user-id"}`, "x-user-id"},
	} {
		env := newPickerEnv(t, tt.config, ones(3))
		for _, ctx := range []context.Context{
			context.Background(),
			keyCtx(""),
			metadata.AppendToOutgoingContext(context.Background(), "x-other", "1"),
			metadata.AppendToOutgoingContext(context.Background(), "x-user-id", ""),
		} {
			_, err := env.picker.Pick(balancer.PickInfo{Ctx: ctx})
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.InvalidArgument {
				t.Fatalf("%s: keyless pick: %v, want an InvalidArgument status", tt.config, err)
			}
			for _, want := range []string{"no hash key", "chash.WithKey", tt.header} {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("%s: error %q does not mention %q", tt.config, st.Message(), want)
				}
			}
		}
		if _, res := env.pick(keyCtx("k")); res.Done != nil {
			res.Done(balancer.DoneInfo{})
		}
	}
}

func TestHeaderKey(t *testing.T) {
	env := newPickerEnv(t, `{"hashHeader":"x-user-id","missingKey":"error"}`, ones(10))
	// Keys with different owners.
	a, b := "alice", ""
	for i := 0; b == ""; i++ {
		if k := "bob" + strconv.Itoa(i); env.ring.owner(k) != env.ring.owner(a) {
			b = k
		}
	}
	hdr := func(kv ...string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), kv...)
	}
	tests := []struct {
		name string
		ctx  context.Context
		key  string // the key it should hash as
	}{
		{"header", hdr("x-user-id", a), a},
		{"header in another case", hdr("X-User-ID", a), a},
		{"NewOutgoingContext", metadata.NewOutgoingContext(context.Background(), metadata.Pairs("x-user-id", b)), b},
		{"context key wins", WithKey(hdr("x-user-id", a), b), b},
		{"empty context key: header", WithKey(hdr("x-user-id", a), ""), a},
		{"several values", hdr("x-user-id", a, "x-user-id", b), a + "," + b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := env.pick(tt.ctx)
			res.Done(balancer.DoneInfo{})
			if want := env.ring.owner(tt.key); got != want {
				t.Errorf("went to %d, the owner of %q is %d", got, tt.key, want)
			}
		})
	}
}

// When a key's owner is not READY the call goes to the next READY endpoint
// clockwise; an IDLE owner is asked to connect, once per picker.
func TestOwnerNotReady(t *testing.T) {
	for _, st := range []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure} {
		t.Run(st.String(), func(t *testing.T) {
			env := newPickerEnv(t, `{}`, ones(10))
			order := env.clockwise("k")
			env.setOne(order[0], st)
			env.setOne(order[1], connectivity.TransientFailure)
			for range 100 {
				got, res := env.pick(keyCtx("k"))
				res.Done(balancer.DoneInfo{})
				if got != order[2] {
					t.Fatalf("went to %d; owner %d is %v and %d is down, want the next one clockwise, %d", got, order[0], st, order[1], order[2])
				}
			}
			wantKicks := int32(0)
			if st == connectivity.Idle {
				wantKicks = 1
			}
			if got := env.kicks[order[0]].Load(); got != wantKicks {
				t.Errorf("owner asked to connect %d times in 100 picks, want %d", got, wantKicks)
			}
			// A new picker (the next state change) may ask again.
			env.setOne(order[5], connectivity.Connecting)
			env.pick(keyCtx("k"))
			if got := env.kicks[order[0]].Load(); got != 2*wantKicks {
				t.Errorf("after a new picker the owner was asked %d times, want %d", got, 2*wantKicks)
			}
			// Back to READY: back to the owner.
			env.setOne(order[0], connectivity.Ready)
			if got, _ := env.pick(keyCtx("k")); got != order[0] {
				t.Errorf("owner READY again, the key went to %d", got)
			}
		})
	}
}

// The walk to the next READY endpoint wraps around the end of the ring.
func TestOwnerNotReadyWraps(t *testing.T) {
	env := newPickerEnv(t, `{}`, ones(10))
	last := len(env.ring.points) - 1
	key := ""
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); env.ring.search(xxhash64(k)) == last {
			key = k
		}
	}
	order := env.clockwise(key)
	if order[1] != env.ring.node(0) {
		t.Fatalf("the endpoint after the owner of %q is %d, not the one at the start of the ring, %d", key, order[1], env.ring.node(0))
	}
	env.setOne(order[0], connectivity.TransientFailure)
	if got, _ := env.pick(keyCtx(key)); got != order[1] {
		t.Errorf("owner of %q (the last point) down: went to %d, want %d at the start of the ring", key, got, order[1])
	}
	env.setOne(order[1], connectivity.TransientFailure)
	if got, _ := env.pick(keyCtx(key)); got != order[2] {
		t.Errorf("two down: went to %d, want %d", got, order[2])
	}
}

func TestNoneReady(t *testing.T) {
	type C = connectivity.State
	const (
		idle = connectivity.Idle
		conn = connectivity.Connecting
		tf   = connectivity.TransientFailure
	)
	tests := []struct {
		name   string
		states []C
		want   error // nil: the owner's error
		kick   bool  // the owner is asked to connect
	}{
		{"connecting", []C{conn}, balancer.ErrNoSubConnAvailable, false},
		{"idle", []C{idle}, balancer.ErrNoSubConnAvailable, true},
		{"failing and connecting", []C{tf, tf, conn, tf}, balancer.ErrNoSubConnAvailable, false},
		{"failing", []C{tf}, nil, false},
	}
	for _, tt := range tests {
		for _, keyed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keyed=%v", tt.name, keyed), func(t *testing.T) {
				env := newPickerEnv(t, `{}`, ones(5))
				env.set(tt.states...)
				ctx := context.Background()
				if keyed {
					ctx = keyCtx("k")
				}
				_, err := env.picker.Pick(balancer.PickInfo{Ctx: ctx})
				if tt.want != nil {
					if err != tt.want {
						t.Fatalf("Pick: %v, want %v", err, tt.want)
					}
				} else if !keyed {
					if err == nil || !strings.Contains(err.Error(), "is TRANSIENT_FAILURE") {
						t.Fatalf("Pick: %v, want an endpoint's error", err)
					}
				} else if want := fmt.Sprintf("endpoint %d is TRANSIENT_FAILURE", env.ring.owner("k")); err == nil || err.Error() != want {
					t.Fatalf("Pick: %v, want the owner's error %q", err, want)
				}
				var kicks int32
				for i := range env.kicks {
					kicks += env.kicks[i].Load()
				}
				if tt.kick {
					if kicks != 1 {
						t.Errorf("%d endpoints asked to connect, want 1", kicks)
					}
					if keyed && env.kicks[env.ring.owner("k")].Load() != 1 {
						t.Error("the owner was not asked to connect")
					}
				} else if kicks != 0 {
					t.Errorf("%d endpoints asked to connect, want none", kicks)
				}
			})
		}
	}
}

// Picks and Dones from many goroutines, across picker rebuilds, leave the
// counters at zero (and the race detector quiet).
func TestPickConcurrent(t *testing.T) {
	env := newPickerEnv(t, `{}`, ones(20))
	var current atomic.Pointer[picker]
	current.Store(env.picker)
	var failed atomic.Value
	stop := balancertest.Workers(8, func(g, i int) {
		key := "k" + strconv.Itoa(i%50)
		if g%2 == 0 {
			key = "hot"
		}
		res, err := current.Load().Pick(balancer.PickInfo{Ctx: keyCtx(key)})
		if err != nil {
			if !errors.Is(err, balancer.ErrNoSubConnAvailable) {
				failed.Store(err)
			}
			return
		}
		if res.Done != nil {
			res.Done(balancer.DoneInfo{})
		}
	})
	states := []connectivity.State{connectivity.Ready, connectivity.TransientFailure, connectivity.Idle, connectivity.Connecting}
	for i := range 300 {
		// Rebuild the picker as the balancer does, under its lock.
		for j, info := range env.infos {
			st := connectivity.Ready
			if (i+j)%7 == 0 {
				st = states[(i+j)%4]
			}
			info.state = balancer.State{ConnectivityState: st, Picker: fakeChildPicker{sc: &fakeSubConn{idx: j}}}
		}
		current.Store(newPicker(env.cfg, env.ring, env.infos, &env.total))
	}
	stop()
	if err := failed.Load(); err != nil {
		t.Fatalf("a pick failed: %v", err)
	}
	if got := env.total.Load(); got != 0 {
		t.Errorf("after every Done: total %d, in flight %v", got, env.inflight())
	}
}

// countingChildPicker is a READY child's picker that counts its picks and
// may hand out a Done of its own, or another SubConn each time.
type countingChildPicker struct {
	sc     *fakeSubConn
	picks  *atomic.Int32
	dones  *atomic.Int32 // nil: no Done
	rotate bool          // a new SubConn on each pick
}

func (p countingChildPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	n := p.picks.Add(1)
	res := balancer.PickResult{SubConn: p.sc}
	if p.rotate {
		res.SubConn = &fakeSubConn{idx: p.sc.idx + 1000*int(n)}
	}
	if p.dones != nil {
		res.Done = func(balancer.DoneInfo) { p.dones.Add(1) }
	}
	return res, nil
}

// A READY child whose picker returns one SubConn and nothing else (as
// pick_first's does) is asked once, when the picker is built, and picks
// use that SubConn; a child whose picker returns a Done, or another
// SubConn each time, is asked on every pick, and its Done runs after the
// policy's own.
func TestChildPickerAskedOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		name          string
		withDone      bool
		rotate        bool
		wantPerPick   bool
		wantSameConns bool
	}{
		{name: "steady", wantSameConns: true},
		{name: "with Done", withDone: true, wantPerPick: true, wantSameConns: true},
		{name: "another SubConn each time", rotate: true, wantPerPick: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newPickerEnv(t, `{}`, ones(4))
			picks := make([]atomic.Int32, len(env.infos))
			dones := make([]atomic.Int32, len(env.infos))
			for i, info := range env.infos {
				cp := countingChildPicker{sc: &fakeSubConn{idx: i}, picks: &picks[i], rotate: tc.rotate}
				if tc.withDone {
					cp.dones = &dones[i]
				}
				info.state = balancer.State{ConnectivityState: connectivity.Ready, Picker: cp}
			}
			env.picker = newPicker(env.cfg, env.ring, env.infos, &env.total)
			var built int32
			for i := range picks {
				built += picks[i].Load()
			}
			const n = 100
			conns := map[balancer.SubConn]bool{}
			for k := range n {
				res, err := env.picker.Pick(balancer.PickInfo{Ctx: keyCtx(strconv.Itoa(k))})
				if err != nil {
					t.Fatal(err)
				}
				conns[res.SubConn] = true
				if env.total.Load() != 1 {
					t.Fatalf("pick %d: %d calls in flight, want 1", k, env.total.Load())
				}
				res.Done(balancer.DoneInfo{})
			}
			var asked, done int32
			for i := range picks {
				asked += picks[i].Load()
				done += dones[i].Load()
			}
			asked -= built
			if want := map[bool]int32{true: n, false: 0}[tc.wantPerPick]; asked != want {
				t.Errorf("the child pickers were asked %d times by %d picks, want %d", asked, n, want)
			}
			if want := map[bool]int32{true: n, false: 0}[tc.withDone]; done != want {
				t.Errorf("the child's Done ran %d times, want %d", done, want)
			}
			if same := len(conns) <= len(env.infos); same != tc.wantSameConns {
				t.Errorf("%d distinct SubConns over %d picks on %d endpoints", len(conns), n, len(env.infos))
			}
			if env.total.Load() != 0 {
				t.Errorf("%d calls in flight after every Done", env.total.Load())
			}
		})
	}
}

// A removed endpoint's counter is reused only once its calls have all
// finished, and a reused counter starts at zero; counters are handed out
// in blocks, in address order.
func TestCounterPool(t *testing.T) {
	var total atomic.Int64
	cp := &counterPool{total: &total}
	a, b := cp.get(), cp.get()
	if a == b || uintptr(unsafe.Pointer(b))-uintptr(unsafe.Pointer(a)) != unsafe.Sizeof(counter{}) {
		t.Fatalf("two counters in a row are not neighbours: %p, %p", a, b)
	}
	a.n.Add(2)
	total.Add(2)
	cp.put(a) // removed with two calls in flight
	cp.reclaim()
	for range counterBlock {
		if c := cp.get(); c == a {
			t.Fatal("a counter with calls in flight was handed out again")
		}
	}
	a.done(balancer.DoneInfo{})
	a.done(balancer.DoneInfo{})
	if a.n.Load() != 0 || total.Load() != 0 {
		t.Fatalf("after both Dones: counter %d, total %d", a.n.Load(), total.Load())
	}
	cp.reclaim()
	if c := cp.get(); c != a || c.n.Load() != 0 {
		t.Errorf("after its calls finished the counter was not reused (got %p, want %p) or is not at zero (%d)", c, a, c.n.Load())
	}
}
