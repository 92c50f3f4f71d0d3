// Package consultest runs a real Consul agent for tests: `consul agent
// -dev` (a single server, in memory) on 127.0.0.1 with a free port for every
// listener, started and stopped per test.
//
// The binary is $GRPCLB_CONSUL, else the one scripts/consul.sh builds into
// ${GRPCLB_CACHE:-$HOME/.cache/grpclb}/consul-v1.22.6/consul, else consul on
// PATH. When none exists a test calling Start is skipped on a developer
// machine and fails under CI (CI=true) or GRPCLB_REQUIRE_ALL=1, like
// testbed.NeedBinary.
//
// Stop and Restart take the agent down and bring it back on the same ports.
// A -dev agent keeps nothing on disk, so a restarted agent has lost every
// registration and its Raft index starts again from the beginning: what
// clients see when a Consul agent (or a whole single-server cluster) is
// rebuilt.
package consultest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/grpclb/grpclb/internal/testbed"
)

// Version is the Consul version scripts/consul.sh builds.
const Version = "v1.22.6"

// EnvBinary names the environment variable that points at the consul
// binary.
const EnvBinary = "GRPCLB_CONSUL"

// Agent is one `consul agent -dev` process on 127.0.0.1.
type Agent struct {
	tb      testing.TB
	bin     string
	logPath string
	ports   ports
	proc    testbed.Proc
}

type ports struct{ http, dns, grpc, grpcTLS, serfLAN, serfWAN, server int }

// startTimeout bounds how long the agent may take to elect itself leader.
const startTimeout = 30 * time.Second

// Binary returns the path of the consul binary, or "" and the places it
// looked.
func Binary() (string, string) {
	return testbed.CachedBinary(EnvBinary, "consul-"+Version, "consul")
}

// Start starts an agent and returns once it is its own leader. It is
// stopped in t.Cleanup, which waits for the process to exit.
func Start(tb testing.TB) *Agent {
	tb.Helper()
	bin := testbed.NeedCachedBinary(tb, EnvBinary, "consul-"+Version, "consul")
	base := tb.TempDir()
	var lastErr error
	for attempt := range 5 {
		a := &Agent{tb: tb, bin: bin, logPath: filepath.Join(base, fmt.Sprintf("consul%d.log", attempt)), proc: testbed.Proc{Name: "consul", Grace: 10 * time.Second}}
		p, err := testbed.FreePorts(7)
		if err != nil {
			tb.Fatal(err)
		}
		a.ports = ports{http: p[0], dns: p[1], grpc: p[2], grpcTLS: p[3], serfLAN: p[4], serfWAN: p[5], server: p[6]}
		if err := a.start(); err != nil {
			lastErr = err // most likely a port was taken meanwhile
			continue
		}
		tb.Cleanup(a.cleanup)
		return a
	}
	tb.Fatalf("consultest: could not start consul: %v", lastErr)
	return nil
}

// HTTPAddr is the agent's HTTP API address, "127.0.0.1:PORT".
func (a *Agent) HTTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.http)) }

// DNSAddr is the agent's DNS address (UDP and TCP), "127.0.0.1:PORT".
func (a *Agent) DNSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.dns)) }

// Config is an API client configuration for the agent, ignoring the
// CONSUL_* environment of the machine.
func (a *Agent) Config() *api.Config {
	return &api.Config{Address: a.HTTPAddr(), Scheme: "http", Transport: &http.Transport{}}
}

// Client returns a new API client of the agent. Its idle connections are
// closed in t.Cleanup, so goleak sees none of them.
func (a *Agent) Client(tb testing.TB) *api.Client {
	tb.Helper()
	cfg := a.Config()
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatalf("consultest: client: %v", err)
	}
	tb.Cleanup(cfg.Transport.CloseIdleConnections)
	return c
}

// Running reports whether the process is running.
func (a *Agent) Running() bool { return a.proc.Running() }

// Stop takes the agent down (SIGTERM, SIGKILL after 10s) and waits for the
// process to exit.
func (a *Agent) Stop() { a.tb.Helper(); a.proc.StopFor(a.tb, syscall.SIGTERM) }

// Kill takes the agent down abruptly (SIGKILL), like a crash.
func (a *Agent) Kill() { a.tb.Helper(); a.proc.StopFor(a.tb, syscall.SIGKILL) }

// Restart starts a stopped agent again on the same ports, empty (a -dev
// agent keeps nothing), and returns once it is leader.
func (a *Agent) Restart() { a.tb.Helper(); a.proc.RestartFor(a.tb, a.start) }

func (a *Agent) start() error {
	p := a.ports
	cmd := exec.Command(a.bin, "agent", "-dev",
		"-node", "consultest",
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-advertise", "127.0.0.1",
		"-http-port", strconv.Itoa(p.http),
		"-dns-port", strconv.Itoa(p.dns),
		"-grpc-port", strconv.Itoa(p.grpc),
		"-grpc-tls-port", strconv.Itoa(p.grpcTLS),
		"-serf-lan-port", strconv.Itoa(p.serfLAN),
		"-serf-wan-port", strconv.Itoa(p.serfWAN),
		"-server-port", strconv.Itoa(p.server),
		"-log-level", "warn",
	)
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr(), Scheme: "http", Transport: tr})
	if err != nil {
		return err
	}
	return a.proc.Start(cmd, a.logPath, startTimeout, func() error { return ready(c) })
}

// ready says whether the agent has a leader and its own node is in the
// catalog.
func ready(c *api.Client) error {
	leader, err := c.Status().Leader()
	if err != nil || leader == "" {
		return fmt.Errorf("no leader yet (%v)", err)
	}
	if nodes, _, err := c.Catalog().Nodes(nil); err != nil || len(nodes) == 0 {
		return fmt.Errorf("leader %s but no node in the catalog yet (%v)", leader, err)
	}
	return nil
}

func (a *Agent) cleanup() { a.proc.CleanupFor(a.tb) }
