package testbed

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
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
