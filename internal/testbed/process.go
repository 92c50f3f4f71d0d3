package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopProcess signals a child process started by a test harness and waits
// (done closes when its Wait returns); if it has not exited after grace it
// is killed. It reports a process that outlived a SIGKILL's grace.
func StopProcess(name string, cmd *exec.Cmd, done <-chan struct{}, sig syscall.Signal, grace time.Duration) error {
	if cmd == nil {
		return errors.New("not running")
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
	if sig == syscall.SIGKILL {
		return fmt.Errorf("%s survived SIGKILL for %v", name, grace)
	}
	return nil
}

// Proc is a server process a test harness starts, stops and starts again
// (consul, etcd, kube-apiserver): its output goes to a log file whose tail
// explains a failed start or a failed test. Its methods are safe to call
// concurrently.
type Proc struct {
	// Name names the process in errors: "consul".
	Name string
	// Grace is how long Stop waits after SIGTERM before SIGKILL.
	Grace time.Duration

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been waited for
	logPath string
}

// Start runs cmd, its output appended to the file logPath, and waits until
// ready returns nil: polled every 20ms, it fails if the process exits
// first or timeout passes. On failure the process is killed and the error
// ends with the log's tail. The process dies with the test binary, even on
// a test timeout's panic.
func (p *Proc) Start(cmd *exec.Cmd, logPath string, timeout time.Duration, ready func() error) error {
	if p.Running() {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.logPath = cmd, done, logPath
	p.mu.Unlock()
	if err := waitReady(p.Name, done, timeout, ready); err != nil {
		p.Stop(syscall.SIGKILL)
		return fmt.Errorf("%w; log:\n%s", err, p.LogTail())
	}
	return nil
}

func waitReady(name string, exited <-chan struct{}, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting", name)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %w", name, timeout, err)
		}
	}
}

// Stop sends sig and waits for the process to exit, killing it after
// Grace (StopProcess).
func (p *Proc) Stop(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	return StopProcess(p.Name, cmd, done, sig, p.Grace)
}

// StopFor is Stop for a test harness's Stop (SIGTERM) and Kill (SIGKILL):
// an error fails tb.
func (p *Proc) StopFor(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.Stop(sig); err != nil {
		tb.Errorf("%s: stop (%v): %v", p.Name, sig, err)
	}
}

// RestartFor runs start, a harness's own start of the process on its
// ports, for a test's Restart: an error ends tb.
func (p *Proc) RestartFor(tb testing.TB, start func() error) {
	tb.Helper()
	if err := start(); err != nil {
		tb.Fatalf("%s: restart: %v", p.Name, err)
	}
}

// CleanupFor is a harness's share of tb's cleanup: it stops the process
// (SIGTERM) if it runs and, when tb failed, logs the tail of its log.
func (p *Proc) CleanupFor(tb testing.TB) {
	if p.Running() {
		p.Stop(syscall.SIGTERM)
	}
	if tb.Failed() {
		tb.Logf("%s log (tail):\n%s", p.Name, p.LogTail())
	}
}

// Running reports whether the process runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Pid is the process's id, 0 when it does not run.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// LogTail is the last 6000 bytes of the log.
func (p *Proc) LogTail() string {
	p.mu.Lock()
	path := p.logPath
	p.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 6000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
