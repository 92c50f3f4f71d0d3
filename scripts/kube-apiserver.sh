#!/usr/bin/env bash
# Builds the kube-apiserver that grpclb's Kubernetes resolver tests run, from
# the Go module proxy, into the cache keyed by version, and prints its path.
# A warm run does nothing.
#
#   export GRPCLB_KUBE_APISERVER=$(./scripts/kube-apiserver.sh)
#
# Cold: about 5 minutes, about 3 GB of RAM at link time, 2.7 GB of build cache.
# The tests start it themselves (internal/itest/kubetest) with Debian's etcd.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.37.1 # keep in step with tools/kube-apiserver/go.mod
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
dir="$cache/kube-apiserver-$version"
bin="$dir/kube-apiserver"

if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "==> building kube-apiserver $version into $bin (cold: several minutes)" >&2
  start=$(date +%s)
  minor=${version#v1.}; minor=${minor%%.*}
  pkg=k8s.io/component-base/version
  (
    cd tools/kube-apiserver
    GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
      go build -ldflags "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
      -o "$bin.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$bin.tmp.$$" "$bin"
  echo "==> built kube-apiserver $version in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
