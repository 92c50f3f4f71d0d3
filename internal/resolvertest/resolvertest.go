// Package resolvertest holds what resolver tests share: a ClientConn that
// records what a resolver publishes, a steady load that counts failed
// calls, and polls that wait for a client's calls to reach an expected set
// of backends. The end-to-end parts run real gRPC clients against
// internal/testbed backends; the recording ClientConn is used as well, to
// inspect exactly what a resolver published.
package resolvertest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// RecordingCC is a resolver.ClientConn that records every state and error.
// Its other methods panic (through the nil embedded interface): a resolver
// must not use them.
type RecordingCC struct {
	resolver.ClientConn

	mu     sync.Mutex
	states []resolver.State
	errs   []error
}

// UpdateState implements resolver.ClientConn.
func (c *RecordingCC) UpdateState(s resolver.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states = append(c.states, s)
	return nil
}

// ReportError implements resolver.ClientConn.
func (c *RecordingCC) ReportError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

// Snapshot returns copies of the states and errors so far.
func (c *RecordingCC) Snapshot() (states []resolver.State, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.states), slices.Clone(c.errs)
}

// WaitForState polls until the last published state satisfies ok.
func (c *RecordingCC) WaitForState(tb testing.TB, ok func(resolver.State) bool) resolver.State {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if states, _ := c.Snapshot(); len(states) > 0 && ok(states[len(states)-1]) {
			return states[len(states)-1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	states, errs := c.Snapshot()
	tb.Fatalf("no matching state within 10s; %d states, errors %v", len(states), errs)
	return resolver.State{}
}

// Build builds a resolver for target with b, failing the test on error.
func Build(tb testing.TB, b resolver.Builder, target string, cc resolver.ClientConn) resolver.Resolver {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Load calls a client from a few goroutines until Finish, counting
// successes and failures.
type Load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

// StartLoad starts workers callers, each pacing itself to at most about 500
// calls a second.
func StartLoad(c echopb.EchoClient, workers int) *Load {
	l := &Load{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := c.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				} else {
					l.ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond) // pacing, not synchronisation
			}
		}()
	}
	return l
}

// Finish stops the callers and returns the counts.
func (l *Load) Finish() (ok, failed int64) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

// OK is the number of successful calls so far.
func (l *Load) OK() int64 { return l.ok.Load() }

// FirstError is the first failure's message, or nil.
func (l *Load) FirstError() any { return l.firstErr.Load() }

// WaitForSet polls until a window of calls is answered by exactly the
// backends named in want (sorted), with none failing, and returns how long
// that took.
func WaitForSet(tb testing.TB, c echopb.EchoClient, want []string, within time.Duration) time.Duration {
	tb.Helper()
	return wait.Until(tb, within, func() (bool, string) {
		got, failed := testbed.Tally(c, 10*len(want), 2*time.Second)
		return failed == 0 && slices.Equal(SortedKeys(got), want),
			fmt.Sprintf("calls went to %v (%d failed), want exactly %v", got, failed, want)
	})
}

// SortedKeys returns m's keys in order.
func SortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Names returns the backends' names, sorted.
func Names(bs ...*testbed.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	slices.Sort(out)
	return out
}

// FirstCallOn calls c until backend name answers and returns the time since
// start; the test fails if it has not answered within 10s of start.
func FirstCallOn(tb testing.TB, c echopb.EchoClient, name string, start time.Time) time.Duration {
	tb.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := c.Echo(ctx, &echopb.EchoRequest{})
		cancel()
		if err == nil && resp.GetBackend() == name {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			tb.Fatalf("%s never answered within 10s (last answer: %q, %v)", name, resp.GetBackend(), err)
		}
	}
}

// Percentile returns the q-th quantile (0 < q <= 1) of sorted durations,
// nearest rank.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// CheckOutage checks what a client saw while its registry (what: "DNS",
// "etcd") was down and since it is back: l, the load that ran throughout,
// which CheckOutage finishes, failed no call; calls made during the
// outage (seen, from testbed.Tally) went to all the backends, backends of
// them; cc, the ClientConn of a second resolver watched directly, got its
// first state only and no error. It returns the calls that succeeded.
func CheckOutage(tb testing.TB, what string, l *Load, seen map[string]int, backends int, cc *RecordingCC) (ok int64) {
	tb.Helper()
	ok, failed := l.Finish()
	if failed != 0 {
		tb.Errorf("%d of %d RPCs failed while %s was down (first: %v)", failed, ok+failed, what, l.FirstError())
	}
	if len(seen) != backends {
		tb.Errorf("while %s was down calls went to %v, want all %d backends", what, seen, backends)
	}
	if states, errs := cc.Snapshot(); len(states) != 1 || len(errs) != 0 {
		tb.Errorf("during the outage the resolver published %d states and reported errors %v; want the first state only, no errors", len(states), errs)
	}
	return ok
}

// RoundRobinConn is a client connection to target balanced by round_robin,
// with the dial options opts (its resolvers, at least), closed at the end
// of the test.
func RoundRobinConn(tb testing.TB, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		tb.Fatalf("grpc.NewClient(%q): %v", target, err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// RoundRobinClient is an echo client over RoundRobinConn.
func RoundRobinClient(tb testing.TB, target string, opts ...grpc.DialOption) echopb.EchoClient {
	tb.Helper()
	return echopb.NewEchoClient(RoundRobinConn(tb, target, opts...))
}

// Addrs are the backends' addresses.
func Addrs(bs ...*testbed.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out
}
