// Command grpclb is grpclb's command line: `grpclb lab` reproduces
// load-balancing problems and their fixes on one machine and measures them.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `grpclb: gRPC load balancing, reproduced, fixed and measured.

Usage:
  grpclb lab [flags]      run the load-balancing lab (no cluster needed)
  grpclb resolve TARGET   print the endpoints a target resolves to (--watch: every change)
  grpclb bench TARGET     drive load at a service and print how it spreads over backends
  grpclb proxy [flags]    an L7 gRPC proxy that balances every call (--config proxy.yaml)
  grpclb xds [flags]      an xDS control plane serving grpclb's discovery to gRPC clients in any language
  grpclb version          the version, VCS revision and Go version of this binary

Run "grpclb <command> --help" or "grpclb help <command>" for a command's flags and examples.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// commands are grpclb's commands, by name.
var commands = []command{
	{"lab", runLab},
	{"resolve", runResolve},
	{"bench", runBench},
	{"proxy", runProxy},
	{"xds", runXDS},
	{"version", runVersion},
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "--version":
		return exitCode(runVersion(rest, stdout, stderr), stderr)
	case "help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		// grpclb help CMD is grpclb CMD --help.
		name, rest = rest[0], []string{"--help"}
	}
	for _, c := range commands {
		if c.name == name {
			return exitCode(c.run(rest, stdout, stderr), stderr)
		}
	}
	return exitCode(usagef("", "unknown command %q (commands: %s)", name, commandNames()), stderr)
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}
