package subset_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/balancer/subset"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests run real gRPC clients (grpc.NewClient with the policy in the
// service config, round_robin as its child) against real backends on
// 127.0.0.x.

// dial makes client index of count over the manual resolver r.
func dial(t *testing.T, r *manual.Resolver, index, count, size int) echopb.EchoClient {
	t.Helper()
	sc := balancertest.ServiceConfig(subset.Name, fmt.Sprintf(`{"subsetSize":%d,"clientCount":%d,"clientIndex":%d,"childPolicy":[{"round_robin":{}}]}`,
		size, count, index))
	return balancertest.Dial(t, r.Scheme()+":///fleet", sc, grpc.WithResolvers(r))
}

// backendsOf calls until the set of backends answering has been the same
// for 100 calls in a row, and returns it sorted.
func backendsOf(t *testing.T, client echopb.EchoClient) []string {
	t.Helper()
	seen := make(map[string]bool)
	quiet := 0
	wait.Until(t, 15*time.Second, func() (bool, string) {
		for range 100 { // calls a poll
			resp, err := balancertest.Echo(context.Background(), client, grpc.WaitForReady(true))
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
		return quiet >= 100, fmt.Sprintf("the backends answering did not settle (so far %v)", seen)
	})
	return slices.Sorted(maps.Keys(seen))
}

// Four clients of 12 backends with subsets of 3: each client's calls reach
// exactly the 3 backends Subset gives it, and together they cover every
// backend once. Then a backend is removed: the clients follow.
func TestClientsShareTheFleetEvenly(t *testing.T) {
	const clients, size = 4, 3
	f := balancertest.StartFleet(t, 12)
	addrs := f.Addrs()
	byAddr := make(map[string]string)
	for _, b := range f.Backends() {
		byAddr[b.Addr] = b.Name
	}
	var rs []*manual.Resolver
	var conns []echopb.EchoClient
	for c := range clients {
		r := manual.NewBuilderWithScheme(fmt.Sprintf("subset%d", c))
		r.InitialState(resolver.State{Endpoints: balancertest.EndpointsOf(addrs...)})
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
		r.UpdateState(resolver.State{Endpoints: balancertest.EndpointsOf(rest...)})
	}
	for c, conn := range conns {
		var want []string
		for _, i := range subset.Subset(rest, c, clients, size) {
			want = append(want, byAddr[rest[i]])
		}
		slices.Sort(want)
		wait.Until(t, 15*time.Second, func() (bool, string) {
			got := backendsOf(t, conn)
			return slices.Equal(got, want), fmt.Sprintf("after the removal client %d reaches %v, want %v", c, got, want)
		})
	}
}

// A resolver error before any address reaches the calls waiting for a
// picker; a later error keeps the last good subset serving.
func TestResolverErrorPassesThrough(t *testing.T) {
	f := balancertest.StartFleet(t, 3)
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

	r.UpdateState(resolver.State{Endpoints: balancertest.EndpointsOf(f.Addrs()...)})
	if got := backendsOf(t, client); len(got) != 2 {
		t.Fatalf("reached %v, want a subset of 2", got)
	}
	r.CC().ReportError(errors.New("registry down again"))
	if got := backendsOf(t, client); len(got) != 2 {
		t.Fatalf("after a later resolver error: reached %v, want the same subset of 2", got)
	}
}
