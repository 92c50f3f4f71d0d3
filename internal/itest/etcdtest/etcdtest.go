// Package etcdtest runs a real etcd server for tests: the etcd binary
// (Debian's etcd-server) on free loopback ports with a temporary data
// directory, started and stopped per test.
//
// Tests that need etcd call Start, which fails the test under CI (CI=true)
// and skips it on a developer machine when the binary is missing (see
// testbed.NeedBinary). Stop and Restart take the server down and bring it
// back on the same ports with the same data, so tests can check what a
// client does while etcd is away. Proxy puts a TCP forwarder in front of it
// whose connections can be cut, to disconnect one client while others keep
// writing.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/grpclb/grpclb/internal/testbed"
)

// Server is one etcd process serving on 127.0.0.1.
type Server struct {
	tb         testing.TB
	bin        string
	dir        string // data directory
	logPath    string
	clientPort int
	peerPort   int
	clientOnce sync.Once
	client     *clientv3.Client // closed by cleanup
	proc       testbed.Proc
}

// startTimeout bounds how long etcd may take to answer after it is started.
const startTimeout = 15 * time.Second

// Start starts etcd and returns once it answers. The server (and the client
// returned by Client) are stopped in t.Cleanup, which waits for the process
// to exit.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := launch(testbed.NeedBinary(tb, "etcd"), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	s.tb = tb
	tb.Cleanup(s.cleanup)
	return s
}

// Launch starts etcd for a caller that is not a test (the lab), with its
// data and log under dir, and returns once it answers. The binary is etcd
// on PATH (Debian's etcd-server); the error says how to get it. Close stops
// the process; Down and Up take it away and bring it back.
func Launch(dir string) (*Server, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd is not installed (apt-get install etcd-server): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return launch(bin, dir)
}

// launch starts bin with its data and log under dir, on free ports.
func launch(bin, dir string) (*Server, error) {
	var lastErr error
	for attempt := range 5 {
		s := &Server{
			bin:     bin,
			dir:     filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			logPath: filepath.Join(dir, fmt.Sprintf("etcd%d.log", attempt)),
			proc:    testbed.Proc{Name: "etcd", Grace: 5 * time.Second},
		}
		ports, err := testbed.FreePorts(2)
		if err != nil {
			return nil, err
		}
		s.clientPort, s.peerPort = ports[0], ports[1]
		// An error is most likely another process that took a port
		// between FreePorts and etcd's bind: try other ports.
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("etcdtest: could not start etcd: %w", lastErr)
}

// Down kills a launched server (SIGKILL), as a crash would, and waits for
// the process to exit; its data is kept for Up.
func (s *Server) Down() error { return s.proc.Stop(syscall.SIGKILL) }

// Up starts a launched server that is down again, on the same ports with
// the same data, and returns once it answers.
func (s *Server) Up() error { return s.start() }

// Close stops a launched server (SIGTERM, SIGKILL after 5s) if it runs.
func (s *Server) Close() error {
	if !s.Running() {
		return nil
	}
	return s.proc.Stop(syscall.SIGTERM)
}

// Endpoint is the client address, "127.0.0.1:PORT".
func (s *Server) Endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.clientPort)) }

// Client is a client of the server, ready to use, made on the first call.
// It survives Stop and Restart (its calls fail or wait while the server is
// down) and is closed in t.Cleanup.
func (s *Server) Client() *clientv3.Client {
	s.clientOnce.Do(func() {
		c, err := clientv3.New(ClientConfig(s.Endpoint()))
		if err != nil {
			s.tb.Fatalf("etcdtest: client: %v", err)
		}
		s.client = c
	})
	return s.client
}

// ClientConfig is a client configuration for endpoints with quiet logs and a
// reconnection backoff capped at 500ms, so a client notices a restarted
// server quickly.
func ClientConfig(endpoints ...string) clientv3.Config {
	bc := backoff.DefaultConfig
	bc.BaseDelay = 50 * time.Millisecond
	bc.MaxDelay = 500 * time.Millisecond
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: 2 * time.Second})},
	}
}

// NewClient returns another client of the server (ClientConfig), closed in
// t.Cleanup.
func (s *Server) NewClient(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(ClientConfig(s.Endpoint()))
	if err != nil {
		tb.Fatalf("etcdtest: client: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Stop takes the server down (SIGTERM, SIGKILL after 5s) and waits for the
// process to exit. The data directory is kept for Restart.
func (s *Server) Stop() { s.tb.Helper(); s.proc.StopFor(s.tb, syscall.SIGTERM) }

// Kill takes the server down abruptly (SIGKILL), like a crash.
func (s *Server) Kill() { s.tb.Helper(); s.proc.StopFor(s.tb, syscall.SIGKILL) }

// Restart starts a stopped server again on the same ports with the same
// data, and returns once it answers.
func (s *Server) Restart() { s.tb.Helper(); s.proc.RestartFor(s.tb, s.start) }

// Wipe deletes the data of a stopped server, so the next Restart starts an
// empty etcd on the same ports: what clients see when etcd is rebuilt or
// restored without their keys and leases.
func (s *Server) Wipe() {
	s.tb.Helper()
	if s.Running() {
		s.tb.Fatal("etcdtest: Wipe needs a stopped server")
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.tb.Fatalf("etcdtest: wipe: %v", err)
	}
}

// Running reports whether the process is running.
func (s *Server) Running() bool { return s.proc.Running() }

func (s *Server) start() error {
	clientURL := "http://" + s.Endpoint()
	peerURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.peerPort))
	name := "etcdtest"
	cmd := exec.Command(s.bin,
		"--name", name,
		"--data-dir", s.dir,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", name+"="+peerURL,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
		"--log-level", "warn",
	)
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	defer hc.CloseIdleConnections()
	return s.proc.Start(cmd, s.logPath, startTimeout, func() error { return healthy(hc, clientURL) })
}

// healthy says whether etcd's /health answers true.
func healthy(hc *http.Client, clientURL string) error {
	resp, err := hc.Get(clientURL + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(buf.String(), `"health":"true"`) {
		return fmt.Errorf("/health: %s %s", resp.Status, buf.String())
	}
	return nil
}

func (s *Server) cleanup() {
	if s.client != nil {
		s.client.Close()
	}
	s.proc.CleanupFor(s.tb)
}

// Compact compacts the server's history up to the current revision and
// returns that revision.
func (s *Server) Compact(ctx context.Context) (int64, error) {
	resp, err := s.Client().Get(ctx, "etcdtest-compact-probe")
	if err != nil {
		return 0, err
	}
	rev := resp.Header.Revision
	_, err = s.Client().Compact(ctx, rev, clientv3.WithCompactPhysical())
	return rev, err
}
