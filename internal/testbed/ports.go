package testbed

import (
	"fmt"
	"net"
	"testing"
)

// FreePorts returns n distinct ports that were free on 127.0.0.1 when it
// looked. Another process may take one before the caller binds it, so
// callers that start a child process on them retry with other ports.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// RefusingAddr returns an address on 127.0.0.1 where nothing listens, so
// connections to it are refused: a port that was free a moment ago.
func RefusingAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
