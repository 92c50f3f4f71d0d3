package subset_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/balancer/subset"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// These tests run real gRPC clients (grpc.NewClient with the policy in the
// service config, round_robin as its child) against real backends on
// 127.0.0.x.

func startFleet(t *testing.T, n int) *testbed.Fleet {
	t.Helper()
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func endpoints(addrs []string) []resolver.Endpoint {
	eps := make([]resolver.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}}
	}
	return eps
}

// dial makes client index of count over the manual resolver r.
func dial(t *testing.T, r *manual.Resolver, index, count, size int) echopb.EchoClient {
	t.Helper()
	sc := fmt.Sprintf(`{"loadBalancingConfig":[{%q:{"subsetSize":%d,"clientCount":%d,"clientIndex":%d,"childPolicy":[{"round_robin":{}}]}}]}`,
		subset.Name, size, count, index)
	cc, err := grpc.NewClient(r.Scheme()+":///fleet", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(sc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return echopb.NewEchoClient(cc)
}

// backendsOf calls until the set of backends answering has been the same
// for 100 calls in a row, and returns it sorted.
func backendsOf(t *testing.T, client echopb.EchoClient) []string {
	t.Helper()
	seen := make(map[string]bool)
	quiet := 0
	deadline := time.Now().Add(15 * time.Second)
	for quiet < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the backends answering did not settle within 15s (so far %v)", seen)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatalf("Echo: %v", err)
		}
		if seen[resp.GetBackend()] {
			quiet++
		} else {
			seen[resp.GetBackend()] = true
			quiet = 0
		}
	}
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// Four clients of 12 backends with subsets of 3: each client's calls reach
// exactly the 3 backends Subset gives it, and together they cover every
// backend once. Then a backend is removed: the clients follow.
func TestClientsShareTheFleetEvenly(t *testing.T) {
	const clients, size = 4, 3
	f := startFleet(t, 12)
	addrs := f.Addrs()
	byAddr := make(map[string]string)
	for _, b := range f.Backends() {
		byAddr[b.Addr] = b.Name
	}
	var rs []*manual.Resolver
	var conns []echopb.EchoClient
	for c := range clients {
		r := manual.NewBuilderWithScheme(fmt.Sprintf("subset%d", c))
		r.InitialState(resolver.State{Endpoints: endpoints(addrs)})
		rs = append(rs, r)
		conns = append(conns, dial(t, r, c, clients, size))
	}
	check := func(addrs []string) {
		t.Helper()
		users := make(map[string]int)
		for c, conn := range conns {
			var want []string
			for _, i := range subset.Subset(addrs, c, clients, size) {
				want = append(want, byAddr[addrs[i]])
			}
			slices.Sort(want)
			got := backendsOf(t, conn)
			if !slices.Equal(got, want) {
				t.Errorf("client %d reached %v, want its subset %v", c, got, want)
			}
			for _, b := range got {
				users[b]++
			}
		}
		for _, a := range addrs {
			if n := users[byAddr[a]]; n != 1 {
				t.Errorf("backend %s is used by %d clients, want 1", byAddr[a], n)
			}
		}
	}
	check(addrs)

	// Remove a backend some client uses: 11 backends, 12 memberships, so
	// one backend serves two clients.
	gone := addrs[subset.Subset(addrs, 0, clients, size)[0]]
	rest := slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { return a == gone })
	for _, r := range rs {
		r.UpdateState(resolver.State{Endpoints: endpoints(rest)})
	}
	for c, conn := range conns {
		var want []string
		for _, i := range subset.Subset(rest, c, clients, size) {
			want = append(want, byAddr[rest[i]])
		}
		slices.Sort(want)
		deadline := time.Now().Add(15 * time.Second)
		for got := backendsOf(t, conn); !slices.Equal(got, want); got = backendsOf(t, conn) {
			if time.Now().After(deadline) {
				t.Fatalf("after the removal client %d reaches %v, want %v", c, got, want)
			}
		}
	}
}

// A resolver error before any address reaches the calls waiting for a
// picker; a later error keeps the last good subset serving.
func TestResolverErrorPassesThrough(t *testing.T) {
	f := startFleet(t, 3)
	r := manual.NewBuilderWithScheme("subseterr")
	built := make(chan struct{})
	r.BuildCallback = func(resolver.Target, resolver.ClientConn, resolver.BuildOptions) { close(built) }
	client := dial(t, r, 0, 1, 2)
	// The channel builds the resolver on the first call.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errCh := make(chan error, 1)
	go func() {
		_, err := client.Echo(ctx, &echopb.EchoRequest{})
		errCh <- err
	}()
	select {
	case <-built:
	case <-time.After(10 * time.Second):
		t.Fatal("the channel did not build the resolver within 10s")
	}
	r.CC().ReportError(errors.New("registry down"))
	err := <-errCh
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "registry down") {
		t.Fatalf("call before any address: %v, want UNAVAILABLE with the resolver's error", err)
	}

	r.UpdateState(resolver.State{Endpoints: endpoints(f.Addrs())})
	if got := backendsOf(t, client); len(got) != 2 {
		t.Fatalf("reached %v, want a subset of 2", got)
	}
	r.CC().ReportError(errors.New("registry down again"))
	if got := backendsOf(t, client); len(got) != 2 {
		t.Fatalf("after a later resolver error: reached %v, want the same subset of 2", got)
	}
}
