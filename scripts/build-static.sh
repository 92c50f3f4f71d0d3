#!/usr/bin/env bash
# Builds the release binary of grpclb (./cmd/grpclb): static (no cgo, so it
# runs on distroless/static or scratch), -trimpath (no paths of the build
# machine), -s -w (no symbol table or DWARF), -buildvcs=true (the git
# revision for `grpclb version`, whatever GOFLAGS says; outside a git
# checkout, as in the Docker build, there is none). The Dockerfile's build stage
# runs this script, so the flags live here only; CI builds the Dockerfile
# with buildah (scripts/image.sh).
#
#   ./scripts/build-static.sh [OUTPUT]      default ./out/grpclb
#
# GRPCLB_VERSION=v0.1.0 stamps that version for `grpclb version` where the go
# command cannot (a build without .git, as in the Dockerfile); a build of
# a module version (go install ...@v0.1.0) or in a checkout needs none.
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
ldflags="-s -w"
if [ -n "${GRPCLB_VERSION:-}" ]; then
  ldflags="$ldflags -X main.stampedVersion=$GRPCLB_VERSION"
fi
CGO_ENABLED=0 go build -trimpath -buildvcs=true -ldflags="$ldflags" -o "$out" ./cmd/grpclb

bytes=$(wc -c <"$out" | tr -d ' ')
awk -v f="$out" -v b="$bytes" 'BEGIN { printf "%s: %d bytes (%.1f MB)\n", f, b, b / 1048576 }'
