//go:build !race

// The race detector multiplies a process's memory: scripts/test.sh runs
// this test in its pass without -race.

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
)

// grpclb proxy, as a process of its own, holds what limits.maxBufferedBytes
// allows when clients push more than a stalled backend reads: 200 streams
// each send a 4 MiB message to a backend that never reads. Its peak RSS
// (VmHWM, /proc) grows over its idle RSS by at most the budget plus
// 32 MiB (the transports' buffers and the runtime's slack); with a budget
// larger than what it can be made to hold, it holds much more, which
// shows what the bound saves.
//
// The grpc-go data plane is loaded by one client connection (it would
// hold the 800 MiB sent without the budget). The frames
// data plane never holds more than a connection's 16 MiB window for one
// connection, so its budget is loaded by 10 connections of 20 streams
// (160 MiB without the budget).
func TestProxyProcessMemoryBound(t *testing.T) {
	const (
		msg   = 4 << 20
		slack = 32 << 20
	)
	for _, tc := range []struct {
		plane                   string
		budget                  int64
		conns, streamsPerConn   int
		unboundedHolds, atLeast int64 // what it holds without the bound; how much more RSS that must show
	}{
		{plane: "grpc", budget: 64 << 20, conns: 1, streamsPerConn: 200, unboundedHolds: 200 * msg, atLeast: 200 << 20},
		{plane: "frames", budget: 32 << 20, conns: 10, streamsPerConn: 20, unboundedHolds: 10 * 16 << 20, atLeast: 64 << 20},
	} {
		t.Run(tc.plane, func(t *testing.T) {
			load := proxyLoad{plane: tc.plane, conns: tc.conns, streamsPerConn: tc.streamsPerConn, size: msg}
			load.budget, load.holds = tc.budget, tc.budget
			idle, bounded := proxyPeakRSS(t, load)
			load.budget, load.holds = 2<<30, tc.unboundedHolds
			_, unbounded := proxyPeakRSS(t, load)
			t.Logf("grpclb proxy (%s) with %d connections x %d streams x %d MiB at a stalled backend: idle RSS %d MiB; peak RSS %d MiB with a %d MiB budget, %d MiB with 2 GiB",
				tc.plane, tc.conns, tc.streamsPerConn, msg>>20, idle>>20, bounded>>20, tc.budget>>20, unbounded>>20)
			if grown := bounded - idle; grown > tc.budget+slack {
				t.Errorf("peak RSS grew %d MiB over idle with a %d MiB budget, want at most %d MiB", grown>>20, tc.budget>>20, (tc.budget+slack)>>20)
			}
			if unbounded < bounded+tc.atLeast {
				t.Errorf("peak RSS %d MiB with a 2 GiB budget, not %d MiB above %d MiB with %d MiB: the test does not load the proxy", unbounded>>20, tc.atLeast>>20, bounded>>20, tc.budget>>20)
			}
		})
	}
}

// proxyLoad is grpclb proxy on a data plane with a budget, and the load
// proxyPeakRSS puts on it: streams on each of conns connections, each
// sending one message of size bytes; holds is what the proxy will hold
// (its buffered_bytes gauge) once loaded.
type proxyLoad struct {
	plane                 string
	budget, holds         int64
	conns, streamsPerConn int
	size                  int
}

// proxyPeakRSS runs grpclb proxy as load says, pushes its messages
// through it at a backend that never reads, and returns the proxy's RSS
// when ready (before any call) and its peak RSS once it holds what it
// will hold.
func proxyPeakRSS(t *testing.T, load proxyLoad) (idle, peak int64) {
	t.Helper()
	budget, size := load.budget, load.size
	stalled := grpc.NewServer(grpc.MaxRecvMsgSize(2*size),
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10), // no BDP growth: the proxy is the one left holding
		grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
			<-ss.Context().Done() // never reads
			return ss.Context().Err()
		}))
	backend := balancertest.ServeGRPC(t, stalled)
	ports, err := testbed.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	dir := t.TempDir()
	cfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: %s
admin: %s
limits: {maxBufferedBytes: %d, maxRequestBytes: %d}
routes: [{service: test.Stall, cluster: stalled}]
clusters: {stalled: {target: 'static:///%s'}}
`, listen, admin, budget, 2*size, backend)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "proxy", "--config", cfg, "--data-plane", load.plane, "--access-log=false", "--log-level=warn", "--watch-interval=0")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	proc := &testbed.Proc{Name: "grpclb proxy", Grace: 10 * time.Second}
	if err := proc.Start(cmd, filepath.Join(dir, "proxy.log"), 30*time.Second, func() error { return httpOK("http://" + admin + "/readyz") }); err != nil {
		t.Fatal(err)
	}
	defer proc.CleanupFor(t)
	if _, idle, err = testbed.ProcessUsage(proc.Pid()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var senders sync.WaitGroup
	defer senders.Wait()
	defer cancel()
	payload := &wrapperspb.BytesValue{Value: make([]byte, size)}
	for range load.conns {
		cc, err := grpc.NewClient("passthrough:///"+listen, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(2*size)))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		for range load.streamsPerConn {
			senders.Go(func() {
				cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/test.Stall/Push")
				if err == nil {
					_ = cs.SendMsg(payload) // blocks while flow control holds it back
				}
			})
		}
	}
	// The proxy holds what it will once its buffered bytes reach what
	// load says, less the backend's flow-control windows.
	want := load.holds * 8 / 10
	wait.Until(t, 45*time.Second, func() (bool, string) {
		n := gauge(t, "http://"+admin+"/metrics", "grpclb_proxy_buffered_bytes")
		return n >= want, fmt.Sprintf("buffered bytes %d, want %d", n, want)
	})
	if _, peak, err = testbed.ProcessUsage(proc.Pid()); err != nil {
		t.Fatal(err)
	}
	proc.StopFor(t, syscall.SIGKILL) // ends the streams at once
	return idle, peak
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// gauge reads a metric without labels from a Prometheus text page.
func gauge(t *testing.T, url, name string) int64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in %s", name, url)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(v)
}
