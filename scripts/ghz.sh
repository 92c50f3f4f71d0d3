#!/usr/bin/env bash
# Installs ghz (the load generator the lab's proxy scenario cross-checks
# its own figures with, as a process of its own) from the Go module proxy
# into the cache, keyed by version, and prints its path. A warm run does
# nothing.
set -euo pipefail
version=v0.121.0
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
bin="$cache/ghz-$version/ghz"
if [ ! -x "$bin" ]; then
  echo "==> installing ghz $version into $bin" >&2
  mkdir -p "$cache/ghz-$version"
  GOBIN="$cache/ghz-$version" GOFLAGS=-mod=mod go install "github.com/bojand/ghz/cmd/ghz@$version"
fi
echo "$bin"
