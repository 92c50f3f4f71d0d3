#!/usr/bin/env bash
# Builds the Consul agent grpclb's tests run, from the Go module proxy, into
# the cache keyed by version, and prints its path. A warm run does nothing.
#
#   export GRPCLB_CONSUL=$(./scripts/consul.sh)
#
# Cold: several minutes, about 3.4 GB of RAM and 2 GB of module cache.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.22.6 # keep in step with tools/consul/go.mod
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
dir="$cache/consul-$version"
bin="$dir/consul"

if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "==> building consul $version into $bin (cold: several minutes)" >&2
  start=$(date +%s)
  # tools/consul/go.sum verifies every module; GONOSUMDB only matters if an
  # entry were missing (the checksum database lacks some Consul submodules).
  (
    cd tools/consul
    GOWORK=off GOFLAGS=-mod=mod GONOSUMDB=github.com/hashicorp/consul CGO_ENABLED=0 \
      go build -trimpath -ldflags "-s -w" -o "$bin.tmp.$$" github.com/hashicorp/consul
  )
  mv "$bin.tmp.$$" "$bin"
  echo "==> built consul $version in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
