// Command framerelay runs the framerelay experiment the way the lab runs
// grpclb proxy, so that the lab's proxy scenario measures it in its place:
//
//	go build -o /tmp/framerelay ./proxy/internal/framerelay/cmd/framerelay
//	GRPCLB_BINARY=/tmp/framerelay go run ./cmd/grpclb lab --scenario proxy
//
// It reads only the "listen:" and "target:" lines of the config file named
// by its last argument (any registered resolver's target, such as
// static:///a,b,c), and of its flags only --policy=JSON, the cluster's
// loadBalancingConfig list (default round_robin).
package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	_ "github.com/grpclb/grpclb/balancer/p2c" // p2c_ewma, for --policy
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
	_ "github.com/grpclb/grpclb/resolver/dnspoll" // dnspoll:/// targets
	_ "github.com/grpclb/grpclb/resolver/static"  // static:/// targets
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: framerelay [--policy=JSON] [other flags, ignored] CONFIG (see the package doc)")
		os.Exit(2)
	}
	// The lab passes grpclb proxy's flags: only --policy is read.
	policy := `[{"round_robin":{}}]`
	for _, a := range os.Args[1 : len(os.Args)-1] {
		if v, ok := strings.CutPrefix(a, "--policy="); ok {
			policy = v
		}
	}
	if err := run(os.Args[len(os.Args)-1], policy); err != nil {
		fmt.Fprintln(os.Stderr, "framerelay:", err)
		os.Exit(1)
	}
}

func run(path, policy string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var listen, target string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "listen:"); ok {
			listen = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "target:"); ok {
			target = strings.TrimSpace(v)
		}
	}
	if listen == "" || target == "" {
		return fmt.Errorf("%s: want a listen: line and a target: line", path)
	}
	r, err := framerelay.New(target, policy)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return r.Serve(lis)
}
