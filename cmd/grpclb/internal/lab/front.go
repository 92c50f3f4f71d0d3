package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/proxy"
)

// A front is an L7 proxy in front of the backends that the client reaches
// over one connection: grpclb's proxy, nginx (grpc_pass) or HAProxy (h2).
// It plays the registry's part in a World: it is started at the first sync,
// with the backends running then, and the client dials its address.
type front struct {
	name  string
	start func(f *front, backends []string) error

	mu     sync.Mutex
	addr   string
	dir    string
	proxy  interface{ Stop() } // grpclb's proxy, run in the lab's process
	binary string              // the grpclb binary run as the proxy, if any
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
}

func (f *front) target() string             { return "passthrough:///" + f.addr }
func (f *front) resolver() resolver.Builder { return resolver.Get("passthrough") }
func (f *front) dialOptions() []grpc.DialOption {
	return nil
}

func (f *front) sync(running, _ []*testbed.Backend) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addr != "" || f.err != nil {
		return // the backends are fixed at start
	}
	var addrs []string
	for _, b := range running {
		addrs = append(addrs, b.Addr)
	}
	f.err = f.start(f, addrs)
}

func (f *front) down() error { return fmt.Errorf("%s cannot be taken down by the lab", f.name) }
func (f *front) up() error   { return nil }

func (f *front) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proxy != nil {
		f.proxy.Stop()
	}
	if f.cmd != nil {
		_ = testbed.StopProcess(f.name, f.cmd, f.done, syscall.SIGTERM, 5*time.Second)
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// startFront makes a front; the registry hook of a strategy.
func startFront(name string, start func(f *front, backends []string) error) (registry, error) {
	dir, err := os.MkdirTemp("", "grpclb-lab-"+name+"-")
	if err != nil {
		return nil, err
	}
	return &startedFront{&front{name: name, start: start, dir: dir}}, nil
}

// startedFront checks, when the client dials, that the front started.
type startedFront struct{ *front }

func (s *startedFront) target() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "passthrough:///" + s.addr
}

// frontErr is the front's start error, for Dial.
func frontErr(r registry) error {
	if s, ok := r.(*startedFront); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return fmt.Errorf("%s: %w", s.name, s.err)
		}
		if s.addr == "" {
			return fmt.Errorf("%s did not start", s.name)
		}
	}
	return nil
}

// dialFront dials the front over one connection (pick_first).
func dialFront(w *World, p Params) (Client, error) {
	if err := frontErr(w.Registry); err != nil {
		return nil, err
	}
	return newClient(w.Registry.target(), insecureCreds)
}

// GRPCLBBinaryEnv names the grpclb binary the lab runs as its proxy, in a
// process of its own like nginx and HAProxy; without it, the lab's own
// executable when that is grpclb (go run ./cmd/grpclb lab), else the
// proxy runs inside the lab's process (and the run's note says so).
const GRPCLBBinaryEnv = "GRPCLB_BINARY"

// grpclbBinary returns the grpclb binary to run as a proxy, "" for none.
func grpclbBinary() string {
	if bin := os.Getenv(GRPCLBBinaryEnv); bin != "" {
		return bin
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "grpclb" {
		return exe
	}
	return ""
}

// grpclbProxyConfig is the config of grpclb proxy in front of backends. The lab stops the proxy when a run has ended, with
// no call in flight: it drains without a grace.
func grpclbProxyConfig(listen string, backends []string) string {
	return fmt.Sprintf(`
listen: %s
drain: {grace: -1s}
routes:
  - service: grpclb.testbed.v1.Echo
    cluster: backends
clusters:
  backends:
    target: static:///%s
`, listen, strings.Join(backends, ","))
}

// startGRPCLB returns the start of grpclb proxy on a data plane, "grpc"
// or "frames": a grpclb binary of its own if there is one, else in the
// lab's process (and the run's note says so).
func startGRPCLB(dataPlane string) func(f *front, backends []string) error {
	return func(f *front, backends []string) error {
		if bin := grpclbBinary(); bin != "" {
			f.binary = bin
			return f.runConfigured(bin, "proxy.yaml", func(addr string) string {
				return grpclbProxyConfig(addr, backends)
			}, "proxy", "--data-plane="+dataPlane, "--access-log=false", "--log-level=warn", "--admin=off", "--watch-interval=0", "--config")
		}
		cfg, err := proxy.ParseConfig([]byte(grpclbProxyConfig("127.0.0.1:0", backends)))
		if err != nil {
			return err
		}
		var p interface {
			Serve(net.Listener) error
			Stop()
		}
		if dataPlane == "frames" {
			p, err = proxy.NewFrames(cfg, proxy.Options{Logger: quiet})
		} else {
			p, err = proxy.New(cfg, proxy.Options{Logger: quiet})
		}
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.Stop()
			return err
		}
		go p.Serve(lis)
		f.proxy, f.addr = p, lis.Addr().String()
		return nil
	}
}

func startNginx(f *front, backends []string) error {
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "    server %s;\n", b)
	}
	return f.runConfigured("nginx", "nginx.conf", func(addr string) string {
		return fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  # keepalive_requests bounds the calls of one client HTTP/2 connection
  # (http2_max_requests before nginx 1.19.7): at its default of 1000 nginx
  # sends GOAWAY every 1000 calls, and calls racing it fail.
  keepalive_requests 1000000000;
  upstream backends {
%[2]s    keepalive 64;
  }
  server {
    listen %[3]s http2;
    location / { grpc_pass grpc://backends; }
  }
}
`, f.dir, servers.String(), addr)
	}, "-p", f.dir, "-c")
}

func startHAProxy(f *front, backends []string) error {
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "  server s%d %s proto h2\n", i, b)
	}
	return f.runConfigured("haproxy", "haproxy.cfg", func(addr string) string {
		return fmt.Sprintf(`global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind %s proto h2
  default_backend be
backend be
  balance roundrobin
%s`, addr, servers.String())
	}, "-db", "-f")
}

// runConfigured runs the proxy binary name on a free port of 127.0.0.1,
// with the config that config writes for that address in file; args are
// its flags, the config's path last.
func (f *front) runConfigured(name, file string, config func(addr string) string, args ...string) error {
	bin, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	port, err := testbed.FreePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port[0])
	path := filepath.Join(f.dir, file)
	if err := os.WriteFile(path, []byte(config(addr)), 0o644); err != nil {
		return err
	}
	return f.run(exec.Command(bin, append(args, path)...), addr)
}

// run starts a proxy process and waits until it accepts connections.
func (f *front) run(cmd *exec.Cmd, addr string) error {
	logf, err := os.Create(filepath.Join(f.dir, f.name+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	f.cmd, f.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			f.addr = addr
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(f.dir, f.name+".log"))
			return fmt.Errorf("%s exited: %s", f.name, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New(f.name + " did not listen within 10s")
}

// needBinary is a strategy's Requires for a front run from a binary.
func needBinary(name string) func(Params) error {
	return func(Params) error {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install %s)", name, map[string]string{"nginx": "nginx-light", "haproxy": "haproxy", "etcd": "etcd-server"}[name])
		}
		return nil
	}
}

// usage is what a front's process has used: CPU seconds (user and system)
// and its peak resident memory.
type usage struct {
	cpuSeconds float64
	peakRSS    int64 // bytes
}

// usage reads the front process's /proc entries; ok is false for a front
// that runs inside the lab's process, or when /proc cannot be read.
func (f *front) usage() (u usage, ok bool) {
	f.mu.Lock()
	cmd := f.cmd
	f.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return u, false
	}
	cpu, rss, err := testbed.ProcessUsage(cmd.Process.Pid)
	return usage{cpuSeconds: cpu, peakRSS: rss}, err == nil
}
