// Command grpclb is grpclb's command line: `grpclb lab` reproduces
// load-balancing problems and their fixes on one machine and measures them.
package main

import (
	"flag"
	"fmt"
	"os"
)

const usage = `grpclb: gRPC load balancing, reproduced, fixed and measured.

Usage:
  grpclb lab [flags]      run the load-balancing lab (no cluster needed)
  grpclb resolve TARGET   print the endpoints a target resolves to (--watch: every change)
  grpclb bench TARGET     drive load at a service and print how it spreads over backends
  grpclb proxy [flags]    an L7 gRPC proxy that balances every call (--config proxy.yaml)

Run "grpclb <command> --help" for a command's flags and examples.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "lab":
		err = runLab(args, os.Stdout, os.Stderr)
	case "resolve":
		err = runResolve(args, os.Stdout, os.Stderr)
	case "bench":
		err = runBench(args, os.Stdout, os.Stderr)
	case "proxy":
		err = runProxy(args, os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "grpclb: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "grpclb:", err)
		}
		os.Exit(1)
	}
}

// parseInterspersed parses flags that may come before and after the
// positional arguments (grpclb bench TARGET --rate 500), which the flag
// package alone stops at, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
