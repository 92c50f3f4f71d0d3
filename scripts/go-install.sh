#!/usr/bin/env bash
# Installs a Go command from the Go module proxy into the cache, keyed by
# version, and prints its path. A warm run does nothing.
#
#   scripts/go-install.sh NAME VERSION PACKAGE
#   scripts/go-install.sh ghz v0.121.0 github.com/bojand/ghz/cmd/ghz
#
# The binary is $GRPCLB_CACHE/NAME-VERSION/NAME (GRPCLB_CACHE defaults to
# ~/.cache/grpclb).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 NAME VERSION PACKAGE" >&2
  exit 2
fi
name=$1 version=$2 pkg=$3
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
bin="$cache/$name-$version/$name"
if [ ! -x "$bin" ]; then
  echo "==> installing $name $version into $bin" >&2
  mkdir -p "$cache/$name-$version"
  GOWORK=off GOBIN="$cache/$name-$version" GOFLAGS=-mod=mod go install "$pkg@$version"
fi
echo "$bin"
