package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
)

const usage = `Usage: go run ./cmd/grpclb/internal/release [--install] [--proxy DIR] [--rev REV] VERSION

Makes the release commit of VERSION (every module requiring the others at
VERSION, no replace directives, go.sum files with their hashes), tags it
for each module, and checks that "go install
github.com/grpclb/grpclb/cmd/grpclb@latest" resolves from a file proxy of
the release. Nothing is pushed: the tags to push are printed.

`

func main() {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	fs.Usage = func() { fmt.Print(usage); fs.PrintDefaults() }
	install := fs.Bool("install", false, "build grpclb from the release's proxy and run `grpclb version` (slower than resolving only)")
	proxy := fs.String("proxy", "", "directory for the release's file proxy (default: a new temporary directory)")
	rev := fs.String("rev", "HEAD", "the revision to release")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "release: want one argument, the version (such as v0.1.0); see --help")
		os.Exit(2)
	}
	if *proxy == "" {
		dir, err := os.MkdirTemp("", "grpclb-proxy-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "release:", err)
			os.Exit(1)
		}
		*proxy = dir
	}
	repo, err := os.Getwd()
	if err == nil {
		repo, err = run(context.Background(), repo, nil, "git", "rev-parse", "--show-toplevel")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release: not in a git checkout:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := release(ctx, options{repo: strings.TrimSpace(repo), rev: *rev, version: fs.Arg(0), proxy: *proxy, install: *install, log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("release commit %s, file proxy %s\npush it with:\n  git push origin %s\n", res.commit, *proxy, strings.Join(res.tags, " "))
}
