#!/usr/bin/env bash
# Builds the release binary of grpclb (./cmd/grpclb): static (no cgo, so it
# runs on distroless/static or scratch), -trimpath (no paths of the build
# machine), -s -w (no symbol table or DWARF), -buildvcs=true (the git
# revision for `grpclb version`, whatever GOFLAGS says; outside a git
# checkout, as in the Docker build, there is none). The Dockerfile's build stage
# runs this script, so the flags live here only; CI, which cannot run a
# container builder, runs it to check that stage.
#
#   ./scripts/build-static.sh [OUTPUT]      default ./out/grpclb
#
# go.work at the root puts every module of this checkout in the build.
set -euo pipefail

out=${1:-./out/grpclb}
case "$out" in
  /*) ;;
  *) out="$PWD/${out#./}" ;; # relative to the caller's directory, not the root's
esac
cd "$(dirname "$0")/.."

mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 go build -trimpath -buildvcs=true -ldflags="-s -w" -o "$out" ./cmd/grpclb

bytes=$(wc -c <"$out" | tr -d ' ')
awk -v f="$out" -v b="$bytes" 'BEGIN { printf "%s: %d bytes (%.1f MB)\n", f, b, b / 1048576 }'
