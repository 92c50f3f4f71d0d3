package dnspoll

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

// The poller's timing on testing/synctest's virtual clock, with a fake
// lookup: exact intervals, jitter bounds, the ResolveNow floor and the
// backoff, which the tests against a real DNS server can only bound
// loosely. Those tests (dnspoll_test.go) check the same resolver against
// real DNS servers.

// fakeLookup answers every lookup with addrs, or with err; block makes a
// lookup wait until its context ends. It records when each lookup began.
type fakeLookup struct {
	mu    sync.Mutex
	addrs []netip.Addr
	err   error
	block bool
	times []time.Time
}

func (f *fakeLookup) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	addrs, err, block := f.addrs, f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return addrs, err
}

func (f *fakeLookup) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errors.New("not used")
}

func (f *fakeLookup) set(err error, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.addrs = err, nil
	for _, a := range addrs {
		f.addrs = append(f.addrs, netip.MustParseAddr(a))
	}
}

// gaps returns the time between consecutive lookups.
func (f *fakeLookup) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(f.times); i++ {
		out = append(out, f.times[i].Sub(f.times[i-1]))
	}
	return out
}

// startFake starts a poller of dnspoll:///svc.test:80?query on f.
func startFake(t *testing.T, query string, f *fakeLookup, cc *resolvertest.RecordingCC) *dnsPoller {
	t.Helper()
	u, err := url.Parse("dnspoll:///svc.test:80?" + query)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := parseTarget(*u, Options{})
	if err == nil {
		pt.opts, err = pt.opts.withDefaults()
	}
	if err != nil {
		t.Fatal(err)
	}
	return start(pt, cc, f, slog.New(slog.DiscardHandler))
}

func TestIntervalAndJitterOnTheClock(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		lo, hi time.Duration
	}{
		{"jittered", "interval=10s&jitter=0.2", 8 * time.Second, 12 * time.Second},
		{"no jitter", "interval=10s&jitter=0", 10 * time.Second, 10 * time.Second},
		{"floor above the jitter", "interval=1s&jitter=0.5&min_interval=900ms", 900 * time.Millisecond, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeLookup{}
				f.set(nil, "10.0.0.1")
				r := startFake(t, tt.query, f, &resolvertest.RecordingCC{})
				time.Sleep(50 * tt.hi)
				r.Close()
				gaps := f.gaps()
				if len(gaps) < 40 {
					t.Fatalf("%d lookups in %v, want about 50", len(gaps)+1, 50*tt.hi)
				}
				distinct := map[time.Duration]bool{}
				for i, g := range gaps {
					if g < tt.lo || g > tt.hi {
						t.Fatalf("gap %d is %v, want within [%v, %v]", i, g, tt.lo, tt.hi)
					}
					distinct[g] = true
				}
				if jittered := tt.lo != tt.hi; jittered != (len(distinct) > 1) {
					t.Errorf("%d distinct gaps; jitter expected: %v", len(distinct), jittered)
				}
			})
		})
	}
}

// ResolveNow looks up at once, but a storm of them looks up once per floor
// (min_interval) and no more.
func TestResolveNowFloorOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLookup{}
		f.set(nil, "10.0.0.1")
		cc := &resolvertest.RecordingCC{}
		r := startFake(t, "interval=1h&min_interval=200ms", f, cc)
		defer r.Close()
		time.Sleep(time.Minute)
		synctest.Wait()
		f.set(nil, "10.0.0.1", "10.0.0.2")
		asked := time.Now()
		r.ResolveNow(resolver.ResolveNowOptions{})
		synctest.Wait()
		if states, _ := cc.Snapshot(); len(states) != 2 || time.Since(asked) != 0 {
			t.Fatalf("after an idle minute, ResolveNow gave %d states after %v; want the new set at once", len(states), time.Since(asked))
		}
		before := len(f.gaps())
		for range 10_000 { // 10 s of ResolveNow every millisecond
			r.ResolveNow(resolver.ResolveNowOptions{})
			time.Sleep(time.Millisecond)
		}
		synctest.Wait() // a lookup due at the storm's last instant is counted
		storm := f.gaps()[before:]
		if len(storm) != 50 {
			t.Errorf("%d lookups in a 10s storm, want 50 (one per 200ms floor)", len(storm))
		}
		for i, g := range storm {
			if g != 200*time.Millisecond {
				t.Fatalf("storm gap %d is %v, want the floor, 200ms", i, g)
			}
		}
	})
}

// Until a set is published, failures back off from min_interval, doubling
// up to interval; with a set, a failure waits the interval.
func TestBackoffOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLookup{}
		f.set(errors.New("SERVFAIL"))
		cc := &resolvertest.RecordingCC{}
		r := startFake(t, "interval=2s&min_interval=100ms&jitter=0", f, cc)
		defer r.Close()
		time.Sleep(10 * time.Second)
		ms := time.Millisecond
		want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2000 * ms, 2000 * ms}
		if gaps := f.gaps(); len(gaps) < len(want) || !slices.Equal(gaps[:len(want)], want) {
			t.Fatalf("gaps %v, want %v first", gaps, want)
		}
		if _, errs := cc.Snapshot(); len(errs) != 1 {
			t.Errorf("%d errors reported for one repeated failure, want 1", len(errs))
		}
		f.set(nil, "10.0.0.1")
		time.Sleep(3 * time.Second)
		f.set(errors.New("SERVFAIL"))
		n := len(f.gaps())
		time.Sleep(10 * time.Second)
		for i, g := range f.gaps()[n:] {
			if g != 2*time.Second {
				t.Fatalf("failure %d with a good set waited %v, want the interval", i, g)
			}
		}
	})
}

// Close does not wait for a lookup in flight (here one that would wait
// out its 5s timeout).
func TestCloseDuringLookupOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLookup{block: true}
		r := startFake(t, "timeout=5s", f, &resolvertest.RecordingCC{})
		synctest.Wait()
		start := time.Now()
		r.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v with a lookup in flight, want no wait", d)
		}
	})
}
