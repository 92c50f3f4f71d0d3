// Command grpclb is grpclb's command line: `grpclb lab` reproduces
// load-balancing problems and their fixes on one machine and measures them.
package main

import (
	"fmt"
	"os"
)

const usage = `grpclb: gRPC load balancing, reproduced, fixed and measured.

Usage:
  grpclb lab [flags]      run the load-balancing lab (no cluster needed)

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
