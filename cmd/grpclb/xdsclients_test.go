package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
)

// grpcJSXDSEnv names the node_modules directory that holds grpc-js and
// @grpc/grpc-js-xds (scripts/grpc-js-xds.sh installs it and prints it).
const grpcJSXDSEnv = "GRPCLB_GRPC_JS_XDS"

// needGRPCJSXDS returns node and the node_modules directory with
// @grpc/grpc-js-xds, skipping the test on a developer machine without
// them and failing it under CI (CI=true) or GRPCLB_REQUIRE_ALL=1.
func needGRPCJSXDS(t *testing.T) (node, modules string) {
	t.Helper()
	node = testbed.NeedBinary(t, "node")
	modules = os.Getenv(grpcJSXDSEnv)
	if _, err := os.Stat(filepath.Join(modules, "@grpc", "grpc-js-xds")); modules == "" || err != nil {
		why := fmt.Sprintf("$%s (%q) names no node_modules with @grpc/grpc-js-xds; run scripts/grpc-js-xds.sh", grpcJSXDSEnv, modules)
		if os.Getenv("CI") != "" || os.Getenv("GRPCLB_REQUIRE_ALL") == "1" {
			t.Fatalf("required here (CI or GRPCLB_REQUIRE_ALL=1): %s", why)
		}
		t.Skip(why)
	}
	return node, modules
}

// xdsClient is a client in another language running one of
// testdata/xds-client.*: it follows the control plane and answers the
// test's commands on its stdin with one JSON line each.
type xdsClient struct {
	t      *testing.T
	name   string
	exited chan error // receives the process's end
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr *testbed.SyncBuffer
}

// jsResult is the client's answer to a call command.
type jsResult struct {
	By     map[string]int `json:"by"`
	Failed int            `json:"failed"`
	Error  string         `json:"error"`
}

// clientKind is a language's client: how to find it and run it.
type clientKind struct {
	name string
	// need returns the command line (the script's path appended) and its
	// environment, or skips or fails the test where it is missing.
	need func(t *testing.T) (argv, env []string)
	// noRingHash, when set, says why the client's ring_hash is not
	// checked.
	noRingHash string
}

var clientKinds = []clientKind{
	{"grpc-js", func(t *testing.T) ([]string, []string) {
		node, modules := needGRPCJSXDS(t)
		proto, err := filepath.Abs("../../internal/testbed/echopb/echo.proto")
		if err != nil {
			t.Fatal(err)
		}
		return []string{node, "testdata/xds-client.js", proto}, []string{"NODE_PATH=" + modules}
	}, ""},
	{"python-c-core", func(t *testing.T) ([]string, []string) {
		return []string{needPythonGRPC(t), "testdata/xds-client.py"}, nil
	}, "Debian 12's grpcio 1.51.1 (C-core) receives the ring_hash cluster and its header hash policy, builds the ring, " +
		"then dies of a segmentation fault on the first call's pick (the ring's endpoints all IDLE); " +
		"round_robin over EDS works (checked above)"},
}

// startXDSClient runs a client of kind with the bootstrap of a node of its
// own in zone.
func startXDSClient(t *testing.T, kind clientKind, xdsAddr, nodeID, zone string) *xdsClient {
	t.Helper()
	argv, env := kind.need(t)
	bootstrap, err := xds.Bootstrap(xdsAddr, nodeID, zone)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), env...), "GRPC_XDS_BOOTSTRAP_CONFIG="+string(bootstrap))
	c := &xdsClient{t: t, name: kind.name, stderr: &testbed.SyncBuffer{}}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewScanner(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		c.stdin.Close() // the client exits when its input ends
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// do sends one command and decodes its one-line answer into v.
func (c *xdsClient) do(v any, format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.stdin, format+"\n", args...); err != nil {
		c.t.Fatalf("%s client: %v\n%s", c.name, err, c.stderr.String())
	}
	if !c.stdout.Scan() {
		var exit error
		select {
		case exit = <-c.exited:
			c.exited <- exit // for the cleanup
		case <-time.After(5 * time.Second):
			exit = errors.New("still running")
		}
		c.t.Fatalf("%s client's output ended (%v) at %q; the process: %v\n%s", c.name, c.stdout.Err(), fmt.Sprintf(format, args...), exit, c.stderr.String())
	}
	if err := json.Unmarshal(c.stdout.Bytes(), v); err != nil {
		c.t.Fatalf("%s client said %q: %v", c.name, c.stdout.Text(), err)
	}
}

// call makes n calls on channel name (with header x-user: key unless key
// is "").
func (c *xdsClient) call(name string, n int, key string) jsResult {
	c.t.Helper()
	var r jsResult
	c.do(&r, "call %s %d %s", name, n, key)
	return r
}

// reaches calls on channel name, 20 calls at a time, until every backend
// of want has answered, failing after 30 s.
func (c *xdsClient) reaches(name string, want ...*testbed.Backend) {
	c.t.Helper()
	seen := map[string]int{}
	var last jsResult
	wait.Until(c.t, 30*time.Second, func() (bool, string) {
		last = c.call(name, 20, "")
		for b, n := range last.By {
			seen[b] += n
		}
		for _, b := range want {
			if seen[b.Name] == 0 {
				return false, fmt.Sprintf("%s reached %v, not yet %s; last batch %+v\n%s", c.name, seen, b.Name, last, c.stderr.String())
			}
		}
		return true, ""
	})
}

// startXDSProcess runs `grpclb xds` as a process of its own with config
// and returns its address once it serves health.
func startXDSProcess(t *testing.T, config string) string {
	t.Helper()
	ports, err := testbed.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	path := filepath.Join(t.TempDir(), "xds.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "xds", "--config", path, "--listen", addr)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	proc := &testbed.Proc{Name: "grpclb xds", Grace: 10 * time.Second}
	hc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	serving := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(hc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health %v", resp.GetStatus())
		}
		return err
	}
	if err := proc.Start(cmd, filepath.Join(t.TempDir(), "xds.log"), 30*time.Second, serving); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.CleanupFor(t) })
	return addr
}

// TestClientsInOtherLanguagesFollowXDSCommand checks the control plane with
// clients that grpclb did not write, against `grpclb xds` running as a
// process of its own: grpc-js with @grpc/grpc-js-xds, and Python on
// C-core (Debian's python3-grpcio). Each reaches every backend of a
// service registered in a real etcd, calls each backend added there (the
// time from the etcd write to its first call is logged) and stops calling
// each one removed; with
// ring_hash on a header, one key goes to one backend on two channels, and
// different keys spread.
func TestClientsInOtherLanguagesFollowXDSCommand(t *testing.T) {
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			kind.need(t)
			followsXDSCommand(t, kind)
		})
	}
}

func followsXDSCommand(t *testing.T, kind clientKind) {
	const rounds = 10
	bs := fleet(t, 3+rounds).Backends()
	etcd := etcdtest.Start(t)
	em, err := endpoints.NewManager(etcd.NewClient(t), "service/echo")
	if err != nil {
		t.Fatal(err)
	}
	register := func(b *testbed.Backend, add bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if add {
			err = em.AddEndpoint(ctx, "service/echo/"+b.Addr, endpoints.Endpoint{Addr: b.Addr})
		} else {
			err = em.DeleteEndpoint(ctx, "service/echo/"+b.Addr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	live := slices.Clone(bs[:3])
	for _, b := range live {
		register(b, true)
	}
	var all []string
	for _, b := range bs[:4] {
		all = append(all, b.Addr)
	}
	addr := startXDSProcess(t, fmt.Sprintf(`services:
  - name: echo
    target: 'etcd://%s/service/echo'
  - name: sticky
    target: 'static:///%s'
    policy: ring_hash
    hashHeader: x-user
`, etcd.Endpoint(), strings.Join(all, ",")))

	c := startXDSClient(t, kind, addr, kind.name+"-1", "")
	var ok struct{ OK bool }
	c.do(&ok, "chan echo xds:///echo")
	c.reaches("echo", live...)
	if r := c.call("echo", 60, ""); r.Failed > 0 || len(r.By) != 3 {
		t.Errorf("60 calls over 3 backends: %+v", r)
	}

	// Each round a backend joins and the oldest leaves: the joiner's first
	// call is timed from the etcd write; the leaver gets no more calls.
	var took []time.Duration
	for i := range rounds {
		nb, old := bs[3+i], live[0]
		start := time.Now()
		register(nb, true)
		wait.Until(t, 30*time.Second, func() (bool, string) {
			r := c.call("echo", 1, "")
			return r.By[nb.Name] > 0, fmt.Sprintf("%s has not called the added %s: %+v\n%s", kind.name, nb.Name, r, c.stderr.String())
		})
		took = append(took, time.Since(start))
		live = append(live[1:], nb)
		register(old, false)
		wait.Until(t, 30*time.Second, func() (bool, string) {
			r := c.call("echo", 30, "")
			return r.By[old.Name] == 0, fmt.Sprintf("%s still calls %s after it left etcd: %+v", kind.name, old.Name, r)
		})
		before := old.Served()
		if r := c.call("echo", 30, ""); r.Failed > 0 || r.By[old.Name] > 0 || old.Served() != before {
			t.Errorf("after %s left, 30 calls: %+v; it served %d", old.Name, r, old.Served()-before)
		}
	}
	slices.Sort(took)
	t.Logf("%s: etcd write -> first call at the added backend, %d rounds: p50 %v, p90 %v, max %v", kind.name, rounds,
		took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))

	// ring_hash on x-user: a key sticks to one backend, the same on two
	// channels (each its own ring); keys spread over the backends.
	if kind.noRingHash != "" {
		t.Logf("ring_hash not checked with %s: %s", kind.name, kind.noRingHash)
		return
	}
	c.do(&ok, "chan s1 xds:///sticky")
	c.do(&ok, "chan s2 xds:///sticky")
	wait.Until(t, 30*time.Second, func() (bool, string) {
		r := c.call("s1", 1, "warmup")
		return r.Failed == 0, fmt.Sprintf("ring_hash channel not serving: %+v\n%s", r, c.stderr.String())
	})
	owners := map[string]bool{}
	for i := range 12 {
		key := fmt.Sprintf("user-%d", i)
		r1, r2 := c.call("s1", 5, key), c.call("s2", 5, key)
		if len(r1.By) != 1 || r1.Failed > 0 || !maps1Equal(r1.By, r2.By) {
			t.Errorf("key %s: channel 1 %+v, channel 2 %+v; want all 5 calls of each on one same backend", key, r1, r2)
		}
		for b := range r1.By {
			owners[b] = true
		}
	}
	if len(owners) < 2 {
		t.Errorf("12 keys all hashed to %v", sortedKeys(owners))
	}
}

// pythonGRPCEnv names a python3 that imports grpc (C-core); by default
// /usr/bin/python3 (Debian's python3-grpcio installs there), else python3
// on PATH.
const pythonGRPCEnv = "GRPCLB_PYTHON_GRPC"

// needPythonGRPC returns a python3 that imports grpc, skipping the test on
// a developer machine without one and failing it under CI (CI=true) or
// GRPCLB_REQUIRE_ALL=1 (.ci/run installs python3-grpcio).
func needPythonGRPC(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3", "python3"}
	if p := os.Getenv(pythonGRPCEnv); p != "" {
		candidates = []string{p}
	}
	var tried []string
	for _, py := range candidates {
		out, err := exec.Command(py, "-c", "import grpc; print(grpc.__version__)").CombinedOutput()
		if err == nil {
			t.Logf("%s: grpcio %s", py, strings.TrimSpace(string(out)))
			return py
		}
		tried = append(tried, fmt.Sprintf("%s: %v", py, err))
	}
	why := fmt.Sprintf("no python3 imports grpc (%s); apt-get install python3-grpcio", strings.Join(tried, "; "))
	if os.Getenv("CI") != "" || os.Getenv("GRPCLB_REQUIRE_ALL") == "1" {
		t.Fatalf("required here (CI or GRPCLB_REQUIRE_ALL=1): %s", why)
	}
	t.Skip(why)
	return ""
}

func maps1Equal(a, b map[string]int) bool {
	return len(a) == len(b) && slices.Equal(sortedKeys(a), sortedKeys(b))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
