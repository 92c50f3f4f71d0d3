package static

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests run real gRPC servers on loopback addresses and a real
// grpc.ClientConn with round_robin, and look at which server answers each
// RPC.

// startBackend starts a gRPC server with the health service on host:0 and
// returns its address. It is stopped when the test ends.
func startBackend(t *testing.T, host string) string {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", host, err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// startBackends starts n backends on 127.0.0.2, 127.0.0.3, ...
func startBackends(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range n {
		addrs[i] = startBackend(t, fmt.Sprintf("127.0.0.%d", i+2))
	}
	return addrs
}

// answering makes rpcs health checks and returns the set of servers (their
// addresses) that answered.
func answering(ctx context.Context, cc *grpc.ClientConn, rpcs int) (map[string]bool, error) {
	client := healthpb.NewHealthClient(cc)
	seen := make(map[string]bool)
	for range rpcs {
		var p peer.Peer
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
			return seen, err
		}
		seen[p.Addr.String()] = true
	}
	return seen, nil
}

// waitForServers polls until a round of RPCs is answered by exactly the
// servers want, or fails the test after a deadline. Under round_robin, a
// round of 3 RPCs per wanted server reaches every ready server of the list
// and only those.
func waitForServers(t *testing.T, cc *grpc.ClientConn, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var (
		last map[string]bool
		err  error
	)
	for {
		rpcCtx, rpcCancel := context.WithTimeout(ctx, 2*time.Second)
		last, err = answering(rpcCtx, cc, 3*len(want))
		rpcCancel()
		if err == nil && sameSet(last, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for RPCs to reach exactly %q; last round reached %q (error: %v)", want, slices.Sorted(maps.Keys(last)), err)
		case <-tick.C:
		}
	}
}

// checkServers checks that several rounds of RPCs reach exactly want.
func checkServers(t *testing.T, cc *grpc.ClientConn, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := range 3 {
		got, err := answering(ctx, cc, 3*len(want))
		if err != nil {
			t.Fatalf("round %d: RPC failed: %v", round, err)
		}
		if !sameSet(got, want) {
			t.Fatalf("round %d: RPCs reached %q, want exactly %q", round, slices.Sorted(maps.Keys(got)), want)
		}
	}
}

func sameSet(got map[string]bool, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !got[w] {
			return false
		}
	}
	return true
}

func canListen(host string) bool {
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return false
	}
	lis.Close()
	return true
}

func TestE2EFixedList(t *testing.T) {
	tests := []struct {
		name string
		// setup starts backends and returns the target's address list and
		// the servers that must answer.
		setup func(t *testing.T) (list string, want []string)
	}{
		{
			name: "three backends",
			setup: func(t *testing.T) (string, []string) {
				a := startBackends(t, 3)
				return strings.Join(a, ","), a
			},
		},
		{
			name: "duplicates and spaces",
			setup: func(t *testing.T) (string, []string) {
				a := startBackends(t, 2)
				return a[0] + ", " + a[1] + "," + a[0], a
			},
		},
		{
			name: "one of two",
			setup: func(t *testing.T) (string, []string) {
				a := startBackends(t, 2)
				return a[1], a[1:]
			},
		},
		{
			name: "host name passed through",
			setup: func(t *testing.T) (string, []string) {
				a := startBackend(t, "127.0.0.1")
				_, port, _ := net.SplitHostPort(a)
				return "localhost:" + port, []string{a}
			},
		},
		{
			name: "IPv6",
			setup: func(t *testing.T) (string, []string) {
				if !canListen("::1") {
					t.Skip("no IPv6 loopback")
				}
				a := []string{startBackend(t, "127.0.0.2"), startBackend(t, "::1")}
				return strings.Join(a, ","), a
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A backend that is not in the list must never answer.
			startBackend(t, "127.0.0.9")
			list, want := tt.setup(t)
			cc := resolvertest.RoundRobinConn(t, "static:///"+list)
			waitForServers(t, cc, want)
			checkServers(t, cc, want)
		})
	}
}

// TestE2EFileWatch edits a watched file in place and by rename, breaks it,
// and checks which servers answer after each step.
func TestE2EFileWatch(t *testing.T) {
	b := startBackends(t, 4) // b[3] is never listed
	path := filepath.Join(t.TempDir(), "backends.txt")
	writeFile(t, path, b[0]+"\n"+b[1]+"\n")
	logger, logs := newLogger(t)
	cc := resolvertest.RoundRobinConn(t, "static:///?file="+path+"&interval=50ms",
		grpc.WithResolvers(NewBuilder(Options{Logger: logger})))

	steps := []struct {
		name    string
		change  func()
		wantLog string   // for bad content: wait for this log, then check nothing changed
		want    []string // the servers that answer after the step
	}{
		{
			name:   "initial",
			change: func() {},
			want:   []string{b[0], b[1]},
		},
		{
			name:   "in place: replace b0 by b2",
			change: func() { writeFile(t, path, b[1]+"\n"+b[2]+"\n") },
			want:   []string{b[1], b[2]},
		},
		{
			name:   "rename: replace b1 by b0",
			change: func() { renameFile(t, path, "# written by config management\n"+b[0]+", "+b[2]+"\n") },
			want:   []string{b[0], b[2]},
		},
		{
			name:   "in place: add b1, with duplicates",
			change: func() { writeFile(t, path, b[0]+"\n"+b[1]+","+b[2]+"\n"+b[0]+" # again\n") },
			want:   []string{b[0], b[1], b[2]},
		},
		{
			name:    "bad line keeps the last good set",
			change:  func() { writeFile(t, path, b[0]+"\n127.0.0.3\n") },
			wantLog: "line 2 of " + path,
			want:    []string{b[0], b[1], b[2]},
		},
		{
			name: "missing file keeps the last good set",
			change: func() {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantLog: "open " + path + ": no such file or directory",
			want:    []string{b[0], b[1], b[2]},
		},
		{
			name:    "empty file keeps the last good set",
			change:  func() { writeFile(t, path, "") },
			wantLog: path + " has no addresses",
			want:    []string{b[0], b[1], b[2]},
		},
		{
			name:   "repaired by rename: only b2",
			change: func() { renameFile(t, path, b[2]+"\n") },
			want:   []string{b[2]},
		},
	}
	for _, step := range steps {
		step.change()
		if step.wantLog != "" {
			wait.For(t, 10*time.Second, "step "+step.name+": a log of "+step.wantLog, func() bool {
				return strings.Contains(logs.String(), step.wantLog)
			})
		} else {
			waitForServers(t, cc, step.want)
		}
		checkServers(t, cc, step.want)
	}
}

// TestE2EFileMissingThenCreated checks what a user sees when the file is
// missing: calls fail with the resolver's error naming the file, and once
// the file appears the channel recovers by itself.
func TestE2EFileMissingThenCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.txt")
	cc := resolvertest.RoundRobinConn(t, "static:///?file="+path+"&interval=50ms")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	want := "static: reading backends file: open " + path + ": no such file or directory"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check() error = %v, want one containing %q", err, want)
	}
	addr := startBackend(t, "127.0.0.2")
	if err := os.WriteFile(path, []byte(addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Errorf("after the file appeared: %v", err)
	}
}
