#!/usr/bin/env bash
# Installs grpc-js with its xDS plugin (@grpc/grpc-js-xds), the client in
# another language that grpclb xds's tests follow the control plane with,
# from npm into the cache, keyed by the lock file's hash, and prints the
# node_modules directory. Versions: tools/grpc-js-xds/package-lock.json.
# A warm run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
key=$(sha256sum tools/grpc-js-xds/package-lock.json | cut -c1-12)
dir="$cache/grpc-js-xds-$key"
if [ ! -f "$dir/.done" ]; then
  echo "==> installing grpc-js and @grpc/grpc-js-xds from npm into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp tools/grpc-js-xds/package.json tools/grpc-js-xds/package-lock.json "$dir/"
  # --ignore-scripts: protobufjs's postinstall only prints a notice.
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >&2)
  touch "$dir/.done"
fi
echo "$dir/node_modules"
