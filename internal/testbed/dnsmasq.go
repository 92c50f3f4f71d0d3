package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Dnsmasq is a real dnsmasq process serving names from files in a hosts
// directory, which it re-reads through inotify within milliseconds. It is
// the DNS server that nobody here wrote.
type Dnsmasq struct {
	// Addr is the host:port it answers on.
	Addr string

	dir, hostsDir string
	cmd           *exec.Cmd
	exited        chan struct{}
	stderr        *bytes.Buffer
	mu            sync.Mutex
	seq           int
}

// StartDnsmasq starts the dnsmasq binary at path on 127.0.0.1 with a free
// port, authoritative for names under domain (for example "test").
func StartDnsmasq(path, domain string) (*Dnsmasq, error) {
	dir, err := os.MkdirTemp("", "grpclb-dnsmasq-")
	if err != nil {
		return nil, err
	}
	d := &Dnsmasq{dir: dir, hostsDir: filepath.Join(dir, "hosts"), exited: make(chan struct{}), stderr: new(bytes.Buffer)}
	if err := os.Mkdir(d.hostsDir, 0o755); err != nil {
		return nil, err
	}
	for range 10 {
		port, err := freeUDPPort()
		if err != nil {
			return nil, err
		}
		d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		if err = d.start(path, domain, port); err == nil {
			return d, nil
		}
		if !strings.Contains(err.Error(), "in use") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	os.RemoveAll(dir)
	return nil, errors.New("testbed: dnsmasq: no free port after 10 tries")
}

func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}

func (d *Dnsmasq) start(path, domain string, port int) error {
	d.cmd = exec.Command(path, "-k", "--conf-file=/dev/null", "--pid-file=", "--no-resolv", "--no-hosts",
		"--no-poll", "--local=/"+domain+"/", "--listen-address=127.0.0.1", "--bind-interfaces",
		fmt.Sprintf("--port=%d", port), "--hostsdir="+d.hostsDir, "--log-facility=-", "--user=", "--group=")
	d.stderr.Reset()
	d.cmd.Stderr = d.stderr
	d.cmd.Stdout = d.stderr
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("testbed: dnsmasq: %w", err)
	}
	d.exited = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	// Ready when it answers a query (NXDOMAIN is an answer).
	r := d.Resolver()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("testbed: dnsmasq exited: %s", strings.TrimSpace(d.stderr.String()))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := r.LookupHost(ctx, "ready-probe."+domain+".")
		cancel()
		var dnsErr *net.DNSError
		if err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling a child process we do not control
	}
	d.kill()
	return fmt.Errorf("testbed: dnsmasq did not answer within 10s: %s", d.stderr.String())
}

// Resolver returns a Go resolver that asks this dnsmasq only.
func (d *Dnsmasq) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.Addr)
	}}
}

// SetHosts publishes name -> ips by writing a hosts file elsewhere and
// renaming it into the watched directory (dnsmasq re-reads it by inotify).
// An empty ips removes the name.
func (d *Dnsmasq) SetHosts(name string, ips ...netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	name = strings.TrimSuffix(name, ".")
	var buf bytes.Buffer
	for _, ip := range ips {
		fmt.Fprintf(&buf, "%s %s\n", ip, name)
	}
	tmp := filepath.Join(d.dir, fmt.Sprintf("tmp-%d", d.seq))
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.hostsDir, name))
}

// Close stops dnsmasq and removes its files.
func (d *Dnsmasq) Close() {
	d.kill()
	os.RemoveAll(d.dir)
}

func (d *Dnsmasq) kill() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}
