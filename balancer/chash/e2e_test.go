package chash

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests run real gRPC clients (grpc.NewClient, the static resolver,
// the consistent_hash service config) against real echo backends on
// loopback, which answer with their own address.

func newClient(t *testing.T, addrs []string, policyJSON string) echopb.EchoClient {
	t.Helper()
	return balancertest.Dial(t, balancertest.StaticTarget(addrs), balancertest.ServiceConfig(Name, policyJSON))
}

// call makes one Echo call and returns the address of the backend that
// answered, or of the one the call was sent to when it failed ("" if it
// was sent nowhere).
func call(ctx context.Context, c echopb.EchoClient) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var p peer.Peer
	resp, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.Peer(&p))
	if err != nil {
		if p.Addr != nil {
			return p.Addr.String(), err
		}
		return "", err
	}
	return resp.GetAddr(), nil
}

// waitOwners polls until every key is answered by its owner: every
// backend the keys need is connected.
func waitOwners(t *testing.T, c echopb.EchoClient, owner func(string) string, keys []string) {
	t.Helper()
	wait.Until(t, 20*time.Second, func() (bool, string) {
		for _, k := range keys {
			got, err := call(WithKey(context.Background(), k), c)
			if err != nil || got != owner(k) {
				return false, fmt.Sprintf("every key answered by its owner; last: key %q: %s, %v (owner %s)", k, got, err, owner(k))
			}
		}
		return true, ""
	})
}

// The same key reaches the same backend from two ClientConns, the one an
// independent ring predicts, and different keys reach every backend.
func TestE2ESameKeySameBackend(t *testing.T) {
	f := balancertest.StartFleet(t, 5)
	owner := expectedOwners(f.Addrs(), 0)
	c1 := newClient(t, f.Addrs(), `{}`)
	// The second client lists the backends in another order.
	reversed := slices.Clone(f.Addrs())
	slices.Reverse(reversed)
	c2 := newClient(t, reversed, `{}`)
	keys := testKeys(1000)
	waitOwners(t, c1, owner, keys[:50])
	waitOwners(t, c2, owner, keys[:50])

	byBackend := map[string]int{}
	for _, k := range keys {
		ctx := WithKey(context.Background(), k)
		a1, err1 := call(ctx, c1)
		a2, err2 := call(ctx, c2)
		if err1 != nil || err2 != nil {
			t.Fatalf("key %q: %v, %v", k, err1, err2)
		}
		if a1 != a2 || a1 != owner(k) {
			t.Fatalf("key %q reached %s and %s; its owner is %s", k, a1, a2, owner(k))
		}
		byBackend[a1]++
	}
	t.Logf("1000 keys per backend: %v", byBackend)
	for _, a := range f.Addrs() {
		if byBackend[a] < 1000/5/2 {
			t.Errorf("backend %s got %d of 1000 keys, want about 200 (%v)", a, byBackend[a], byBackend)
		}
	}
}

// A key in the configured header is hashed like the same key set with
// WithKey.
func TestE2EHeaderKey(t *testing.T) {
	f := balancertest.StartFleet(t, 4)
	owner := expectedOwners(f.Addrs(), 0)
	hc := newClient(t, f.Addrs(), `{"hashHeader":"x-user-id","missingKey":"error"}`)
	waitOwners(t, hc, owner, testKeys(30))
	seen := map[string]bool{}
	for i := range 200 {
		k := "user-" + strconv.Itoa(i)
		got, err := call(metadata.AppendToOutgoingContext(context.Background(), "x-user-id", k), hc)
		if err != nil {
			t.Fatalf("key %q in the header: %v", k, err)
		}
		if got != owner(k) {
			t.Fatalf("key %q in the header reached %s, its owner is %s", k, got, owner(k))
		}
		seen[got] = true
	}
	if len(seen) != 4 {
		t.Errorf("200 header keys reached %d of 4 backends", len(seen))
	}
}

// With "missingKey": "error", a call without a key fails and says why.
// grpc-go turns the picker's InvalidArgument into Internal (gRFC A54),
// keeping the message.
func TestE2EMissingKeyError(t *testing.T) {
	f := balancertest.StartFleet(t, 2)
	c := newClient(t, f.Addrs(), `{"missingKey":"error","hashHeader":"x-user-id"}`)
	waitOwners(t, c, expectedOwners(f.Addrs(), 0), testKeys(10))
	_, err := call(context.Background(), c)
	st := status.Convert(err)
	if st.Code() != codes.Internal {
		t.Errorf("keyless call: %v, want code Internal", err)
	}
	for _, want := range []string{"InvalidArgument", "no hash key", "chash.WithKey", `"x-user-id"`} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("keyless call error %q does not mention %q", st.Message(), want)
		}
	}
	t.Logf("a keyless call fails with: %v", err)
}

// Backends are killed and restarted while callers run. No call panics,
// every call that reached a backend that stayed up succeeds, calls fail
// only with UNAVAILABLE, and, without bounded loads, every call whose
// owner stayed up reaches it. Afterwards the in-flight counts are back to
// zero.
func TestE2EFlapping(t *testing.T) {
	var mu sync.Mutex
	var built []*chashBalancer
	hook := func(b *chashBalancer) {
		mu.Lock()
		built = append(built, b)
		mu.Unlock()
	}
	testHookBuilt.Store(&hook)
	t.Cleanup(func() { testHookBuilt.Store(nil) })

	for _, tt := range []struct{ name, config string }{
		{"unbounded", `{"loadFactor":0}`},
		{"bounded", `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			built = nil
			mu.Unlock()
			f := balancertest.StartFleet(t, 6)
			backends := f.Backends()
			stable := map[string]bool{backends[0].Addr: true, backends[1].Addr: true}
			flapping := backends[2:]
			owner := expectedOwners(f.Addrs(), 0)
			c := newClient(t, f.Addrs(), tt.config)
			keys := testKeys(200)
			waitOwners(t, c, owner, keys)
			mu.Lock()
			if len(built) != 1 {
				t.Fatalf("%d balancers built, want 1", len(built))
			}
			b := built[0]
			mu.Unlock()

			var (
				calls, failed, rerouted atomic.Int64
				stableOK, spilledFail   atomic.Int64
				errMu                   sync.Mutex
				errs                    []string
			)
			fail := func(format string, args ...any) {
				errMu.Lock()
				defer errMu.Unlock()
				if len(errs) < 10 {
					errs = append(errs, fmt.Sprintf(format, args...))
				}
			}
			stop := balancertest.Workers(8, func(g, i int) {
				k := keys[(g+8*i)%len(keys)] // the callers take turns
				got, err := call(WithKey(context.Background(), k), c)
				calls.Add(1)
				o := owner(k)
				if err != nil {
					failed.Add(1)
				} else if got != o {
					rerouted.Add(1)
				}
				switch {
				case err != nil && status.Code(err) != codes.Unavailable:
					fail("key %q: %v (want success or UNAVAILABLE)", k, err)
				case err != nil && stable[got]:
					fail("key %q failed on %s, which stayed up: %v", k, got, err)
				case stable[o] && err != nil:
					if tt.config == `{"loadFactor":0}` {
						fail("key %q failed though its owner %s stayed up: %v (sent to %q)", k, o, err, got)
					}
					spilledFail.Add(1)
				case stable[o] && got != o && tt.config == `{"loadFactor":0}`:
					fail("key %q reached %s, not its owner %s, which stayed up", k, got, o)
				case stable[o]:
					stableOK.Add(1)
				}
			})
			// Stop the callers if the test fails before it stops them.
			t.Cleanup(stop)
			progress := func(n int64) { // wait for n more calls
				t.Helper()
				mark := calls.Load() + n
				wait.For(t, 20*time.Second, fmt.Sprintf("%d more calls", n), func() bool { return calls.Load() >= mark })
			}
			progress(200)
			for round := range 2 {
				for _, victim := range flapping[round%2*2 : round%2*2+2] {
					victim.Kill()
					progress(300)
					if err := victim.Restart(); err != nil {
						t.Fatal(err)
					}
					progress(100)
				}
			}
			stop()
			// Everything is back: every key reaches its owner again (the
			// callers are stopped: under their load, bounded loads spill).
			waitOwners(t, c, owner, keys)
			errMu.Lock()
			for _, e := range errs {
				t.Error(e)
			}
			errMu.Unlock()
			t.Logf("%d calls: %d failed, %d answered by another backend than the owner; %d with an owner that stayed up succeeded, %d failed elsewhere after spilling",
				calls.Load(), failed.Load(), rerouted.Load(), stableOK.Load(), spilledFail.Load())
			if stableOK.Load() == 0 {
				t.Error("no call with a stable owner succeeded")
			}
			if rerouted.Load() == 0 {
				t.Error("no call went elsewhere than its owner: the owners never went down?")
			}
			// Every Done ran: nothing in flight.
			wait.Until(t, 10*time.Second, func() (bool, string) {
				total := b.total.Load()
				if total != 0 {
					return false, fmt.Sprintf("no calls in flight (total %d)", total)
				}
				b.mu.Lock()
				defer b.mu.Unlock()
				for addr, info := range b.endpoints {
					if n := info.ctr.n.Load(); n != 0 {
						return false, fmt.Sprintf("no calls in flight (%d on %v)", n, addr)
					}
				}
				return true, ""
			})
		})
	}
}
