package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// TestProxyExampleConfigParses: the example printed by --help (the proxy
// package's testdata/example.yaml) is valid with every resolver and
// policy the command registers.
func TestProxyExampleConfigParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(proxy.ExampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := (proxyFlags{config: path}).load()
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.CheckFrames(cfg); err != nil {
		t.Fatalf("the example config on the default data plane: %v", err)
	}
}

func TestProxyHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runProxy([]string{"--help"}, &stdout, &stderr); err != errHelpShown {
		t.Fatal(err)
	}
	for _, want := range []string{"Usage: grpclb proxy --config FILE", "Examples:", "SIGHUP", "clusters:", "--listen", "--log-level"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
}

func TestProxyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes: [{service: a.B, cluster: nope}]\nclusters: {c: {target: 'static:///127.0.0.1:1'}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("routes: [{service: a.B, cluster: c}]\nclusters: {c: {target: 'static:///127.0.0.1:1'}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no config", nil, "--config is required"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: --nope"},
		{"negative watch interval", []string{"--config", good, "--watch-interval", "-1s"}, "--watch-interval -1s"},
		{"argument", []string{"--config", good, "extra"}, `unexpected argument "extra"`},
		{"missing file", []string{"--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{"invalid config", []string{"--config", bad}, `routes[0].cluster: "nope" is not a defined cluster`},
		{"bad listen override", []string{"--config", good, "--listen", "nohostport"}, "listen:"},
		{"bad log level", []string{"--config", good, "--log-level", "loud"}, "--log-level"},
		{"bad log format", []string{"--config", good, "--log-format", "xml"}, "--log-format"},
		{"listen in use", []string{"--config", good, "--listen", usedAddr(t), "--admin", "off"}, "address already in use"},
		{"unknown data plane", []string{"--config", good, "--data-plane", "quic"}, `--data-plane "quic": want grpc or frames`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runProxy(tc.args, io.Discard, io.Discard)
			switch {
			case err == nil:
				t.Fatal("no error")
			case !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// usedAddr is an address something listens on until the test ends.
func usedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// proxyRun is the proxy command running in a test: its addresses, its
// log, a client of its gRPC address, and its end.
type proxyRun struct {
	grpcAddr, adminAddr string
	stderr              *testbed.SyncBuffer
	done                chan error
	echo                echopb.EchoClient
}

// startProxyCommand runs the command with args until it listens, and
// dials it.
func startProxyCommand(t *testing.T, args ...string) *proxyRun {
	t.Helper()
	r := &proxyRun{stderr: &testbed.SyncBuffer{}, done: make(chan error, 1)}
	addrs := make(chan [2]string, 1)
	go func() {
		r.done <- proxyCommand(args, io.Discard, r.stderr, func(g, a string) { addrs <- [2]string{g, a} })
	}()
	select {
	case a := <-addrs:
		r.grpcAddr, r.adminAddr = a[0], a[1]
	case err := <-r.done:
		t.Fatalf("the command ended: %v\n%s", err, r.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the command did not start within 20s\n%s", r.stderr.String())
	}
	cc, err := grpc.NewClient("passthrough:///"+r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	r.echo = echopb.NewEchoClient(cc)
	return r
}

// backend makes a call through the proxy and returns the backend that
// answered it.
func (r *proxyRun) backend(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := r.echo.Echo(ctx, &echopb.EchoRequest{})
	if err != nil {
		t.Fatalf("call through the command's proxy: %v\n%s", err, r.stderr.String())
	}
	return resp.GetBackend()
}

// servedBy waits until calls go to backend, after what.
func (r *proxyRun) servedBy(t *testing.T, backend, what string) {
	t.Helper()
	wait.Until(t, 10*time.Second, func() (bool, string) {
		got := r.backend(t)
		return got == backend, fmt.Sprintf("%s did not move calls to %s (served by %s)\n%s", what, backend, got, r.stderr.String())
	})
}

// logs waits until the command's log says text.
func (r *proxyRun) logs(t *testing.T, text string) {
	t.Helper()
	wait.Until(t, 10*time.Second, func() (bool, string) {
		log := r.stderr.String()
		return strings.Contains(log, text), fmt.Sprintf("the log does not say %q\n%s", text, log)
	})
}

// stop sends SIGTERM, which the command's signal.Notify takes from the
// test binary, and reports whether the command then ended without error
// (within 20s).
func (r *proxyRun) stop(t *testing.T) bool {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Error(err)
		return false
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("the command ended with %v", err)
			return false
		}
		return true
	case <-time.After(20 * time.Second):
		t.Errorf("SIGTERM did not end the command within 20s\n%s", r.stderr.String())
		return false
	}
}

// TestProxyCommand runs the command: it serves calls through its routes,
// serves /metrics, reloads the file on SIGHUP (and keeps the running config
// when the file is bad), and drains and exits on SIGTERM.
func TestProxyCommand(t *testing.T) {
	backends := fleet(t, 2).Backends()
	b1, b2 := backends[0], backends[1]
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	configFor := func(addr string) string {
		return fmt.Sprintf("drain: {grace: 100ms, timeout: 10s}\nroutes: [{service: grpclb.testbed.v1.Echo, cluster: echo}]\nclusters: {echo: {target: 'static:///%s'}}\n", addr)
	}
	writeConfig(configFor(b1.Addr))

	pr := startProxyCommand(t, "--config", path, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", "json")
	if got := pr.backend(t); got != b1.Name {
		t.Fatalf("served by %s, want %s", got, b1.Name)
	}

	resp, err := http.Get("http://" + pr.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `grpclb_proxy_requests_total{cluster="echo",code="OK"`) {
		t.Errorf("/metrics lacks the call:\n%s", body)
	}
	if !strings.Contains(pr.stderr.String(), `"msg":"rpc"`) {
		t.Errorf("no access log record:\n%s", pr.stderr.String())
	}

	// SIGHUP with a new file moves the route to b2.
	writeConfig(configFor(b2.Addr))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pr.servedBy(t, b2.Name, "SIGHUP")
	// SIGHUP with a bad file keeps the running config.
	writeConfig("routes: []\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pr.logs(t, "reload failed")
	if got := pr.backend(t); got != b2.Name {
		t.Errorf("after a bad reload, served by %s, want %s", got, b2.Name)
	}

	// SIGTERM drains and ends the command.
	if !pr.stop(t) {
		t.FailNow()
	}
	if c, err := net.DialTimeout("tcp", pr.grpcAddr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after the drain")
	}
	for _, want := range []string{"proxy: draining", "proxy: stopped"} {
		if !strings.Contains(pr.stderr.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// TestProxyCommandGRPCPlane runs the command on the grpc data plane (the
// default is frames): it serves calls through its routes, answers
// /readyz, reloads the file on SIGHUP, and drains on SIGTERM, letting the
// call in flight finish.
func TestProxyCommandGRPCPlane(t *testing.T) {
	backends := fleet(t, 2).Backends()
	a, b := backends[0], backends[1]
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig := func(addr string) {
		t.Helper()
		cfg := fmt.Sprintf("drain: {grace: 100ms, timeout: 10s}\nroutes: [{service: grpclb.testbed.v1.Echo, cluster: echo}]\nclusters: {echo: {target: 'static:///%s'}}\n", addr)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(a.Addr)
	pr := startProxyCommand(t, "--config", path, "--data-plane", "grpc", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--watch-interval", "0")
	if got := pr.backend(t); got != a.Name {
		t.Fatalf("served by %s, want %s", got, a.Name)
	}
	// The channel's state follows its picker (grpc-go updates the picker
	// first), so /readyz may still say CONNECTING just after the call.
	wait.Until(t, 10*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + pr.adminAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("/readyz: %s %s", resp.Status, body)
	})
	writeConfig(b.Addr)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pr.servedBy(t, b.Name, "SIGHUP")
	s, _ := testbed.OpenStream(t, testbed.Context(t, 30*time.Second), pr.echo)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	pr.logs(t, "proxy: draining")
	if err := s.Send(&echopb.EchoRequest{}); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	s.CloseSend()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the call in flight ended with %v", err)
	}
	select {
	case err := <-pr.done:
		if err != nil {
			t.Fatalf("the command ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("SIGTERM did not end the command within 20s of its last call\n%s", pr.stderr.String())
	}
}

// --check validates without listening or dialling: a good file says OK;
// a bad one, or one naming a certificate that is missing, fails with the
// field named.
func TestProxyCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const routes = "routes: [{service: a.B, cluster: c}]\n"
	good := write("good.yaml", routes+"clusters: {c: {target: 'static:///127.0.0.1:1', policy: p2c_ewma}}\nlisten: "+usedAddr(t)+"\n")
	var out strings.Builder
	if err := runProxy([]string{"--config", good, "--check"}, &out, io.Discard); err != nil {
		t.Fatalf("--check of a good config (its listen address taken, which --check does not bind): %v", err)
	}
	if !strings.Contains(out.String(), "OK: 1 routes, 1 clusters") {
		t.Errorf("--check printed %q", out.String())
	}
	// The file may also be --check's argument, as in nginx -t or haproxy -c.
	out.Reset()
	if err := runProxy([]string{"--check", good}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "OK: 1 routes, 1 clusters") {
		t.Errorf("--check FILE: %v, printed %q", err, out.String())
	}
	for _, args := range [][]string{{"--check", good, good}, {"--config", good, "--check", good}, {good}} {
		var ue *usageError
		if err := runProxy(args, io.Discard, io.Discard); !errors.As(err, &ue) || !strings.Contains(ue.msg, "unexpected argument") {
			t.Errorf("%q: %v, want a usage error naming the unexpected argument", args, err)
		}
	}
	// A whole service config: the grpc data plane applies its methodConfig,
	// the frames data plane (the default) refuses it.
	withMethods := write("methods.yaml", routes+"clusters: {c: {target: 'static:///127.0.0.1:1', policy: '{\"loadBalancingConfig\":[{\"round_robin\":{}}],\"methodConfig\":[]}'}}\n")
	if err := runProxy([]string{"--check", withMethods, "--data-plane", "grpc"}, io.Discard, io.Discard); err != nil {
		t.Errorf("--check --data-plane grpc of a service config with methodConfig: %v", err)
	}
	if err := runProxy([]string{"--check", withMethods}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "methodConfig") {
		t.Errorf("--check of a service config with methodConfig on the frames data plane: %v, want it refused, naming methodConfig", err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"listener cert missing", routes + "clusters: {c: {target: 'static:///127.0.0.1:1'}}\ntls: {cert: nope.pem, key: nope.key}\n", "tls.cert/tls.key: open " + filepath.Join(dir, "nope.pem")},
		{"upstream CA missing", routes + "clusters: {c: {target: 'static:///127.0.0.1:1', tls: {ca: ca.pem}}}\n", "clusters.c.tls.ca: open " + filepath.Join(dir, "ca.pem")},
		{"unknown policy", routes + "clusters: {c: {target: 'static:///127.0.0.1:1', policy: p2c}}\n", `clusters.c.policy: "p2c" is not a registered policy name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := runProxy([]string{"--config", write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.body), "--check"}, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("--check: %v; want an error saying %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("--check printed %q for a bad config", out.String())
			}
		})
	}
}
