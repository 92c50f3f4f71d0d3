// Command framerelay runs the framerelay experiment the way the lab runs
// grpclb proxy, so that the lab's proxy scenario measures it in its place:
//
//	go build -o /tmp/framerelay ./proxy/internal/framerelay/cmd/framerelay
//	GRPCLB_BINARY=/tmp/framerelay go run ./cmd/grpclb lab --scenario proxy
//
// It reads only the "listen:" and "target: static:///a,b,c" lines of the
// config file named by its last argument, and ignores its other flags.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: framerelay [flags ignored] CONFIG (see the package doc)")
		os.Exit(2)
	}
	if err := run(os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "framerelay:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var listen string
	var backends []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "listen:"); ok {
			listen = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "target:"); ok {
			v, ok = strings.CutPrefix(strings.TrimSpace(v), "static:///")
			if !ok {
				return fmt.Errorf("%s: only static:/// targets", path)
			}
			backends = strings.Split(v, ",")
		}
	}
	if listen == "" || len(backends) == 0 {
		return fmt.Errorf("%s: want a listen: line and a target: static:///… line", path)
	}
	r, err := framerelay.New(backends)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return r.Serve(lis)
}
