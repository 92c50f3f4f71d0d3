#!/usr/bin/env bash
# Installs grpcurl (used by the proxy's tests: server reflection through
# the proxy) from the Go module proxy into the cache, keyed by version, and
# prints its path. A warm run does nothing.
set -euo pipefail
version=v1.9.4
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
bin="$cache/grpcurl-$version/grpcurl"
if [ ! -x "$bin" ]; then
  echo "==> installing grpcurl $version into $bin" >&2
  mkdir -p "$cache/grpcurl-$version"
  GOBIN="$cache/grpcurl-$version" GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version"
fi
echo "$bin"
