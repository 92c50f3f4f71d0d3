#!/usr/bin/env bash
# The project's test command: formatting, vet, staticcheck, every test with
# the race detector, then each fuzz target for a bounded time.
#
#   ./scripts/test.sh              everything
#   FUZZTIME=0 ./scripts/test.sh   skip the fuzzing pass
#   FUZZTIME=30s ./scripts/test.sh fuzz each target longer
#
# Tools are installed from the Go module proxy into $GRPCLB_CACHE (default
# ~/.cache/grpclb), keyed by version, by scripts/go-install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2 # staticcheck 2026.2.2, knows Go 1.26
# A count, not a duration: Go 1.26's fuzz coordinator can fail a
# duration-bounded run with a bare "context deadline exceeded" when its
# deadline fires (go.dev/issue/75804, fixed in Go 1.27); a count sets no
# deadline. 20000 inputs take 1-6 s per target here.
fuzztime=${FUZZTIME:-20000x}

step() { printf "\n==> %s (%s)\n" "$*" "$(date +%T)"; }

tool=$(./scripts/go-install.sh staticcheck "$staticcheck_version" honnef.co/go/tools/cmd/staticcheck)

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# Every module of the workspace (go.work): the core at the root, one module
# per heavy integration, the tools module (cmd/grpclb). "./..." would stop
# at the root module's boundary; the import-path pattern spans go.work.
pkgs=github.com/grpclb/grpclb/...

step "go.mod of every module tidy"
for mod in $(go list -m -f '{{.Dir}}'); do
  (cd "$mod" && GOWORK=off go mod tidy -diff >/dev/null) || { echo "go mod tidy would change $mod/go.mod or go.sum"; exit 1; }
done

step "go vet"
go vet $pkgs

step "staticcheck"
"$tool" $pkgs

# The container image, built from the Dockerfile with buildah (.ci/run
# installs it from Debian). Without buildah, outside CI, the Dockerfile's
# build stage is checked by running its script with its flags.
if command -v buildah >/dev/null 2>&1; then
  step "container image (scripts/image.sh: buildah bud of the Dockerfile)"
  ./scripts/image.sh
elif [ -n "${CI:-}" ]; then
  echo "buildah is not installed: CI builds the Dockerfile with it (.ci/run installs it)"; exit 1
else
  step "release binary (scripts/build-static.sh, the Dockerfile's build stage; no image: buildah is not installed)"
  ./scripts/build-static.sh "$(mktemp -d)/grpclb"
fi

step "go test -race"
go test -race -count=1 -timeout 20m $pkgs

# Allocation tests skip under -race (the race detector makes sync.Pool drop
# items), the proxy's throughput against nginx means nothing with only
# the in-process side instrumented, and the race detector multiplies the
# memory of the proxy process whose peak RSS TestProxyProcessMemoryBound
# bounds (it is built only without -race), and the race detector hides
# the time from an EndpointSlice write to the picker at 10,000 endpoints
# that TestTenThousandEndpoints bounds (the picker's part only with
# GRPCLB_STRICT_TIMING=1): run them without it.
step "allocation and throughput tests without -race"
go test -count=1 -run 'Alloc' ./balancer/...
go test -count=1 -run 'TestProxyProcessMemoryBound' ./cmd/grpclb
go test -count=1 -run 'TestTenThousandEndpoints' ./resolver/kube
go test -count=1 -run 'TestProxyScenario|TestProxyCrossCheckWithGHZ|TestRecoverAndRestart|TestFairness|TestSlowScenarioShares|TestHotkeyBoundedLoads|TestReshardMovesAboutOneNth|TestColdstartSlowStart|TestHedgeCutsTail|TestFlakyOutlierEjection' ./cmd/grpclb/internal/lab

if [ "$fuzztime" != "0" ]; then
  step "fuzzing each target for $fuzztime"
  fuzzlog=$(mktemp)
  fuzz_once() {
    go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" 2>&1 | tee "$fuzzlog"
  }
  for pkg in $(go list $pkgs); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
      echo "--- $pkg $target"
      fuzz_once "$pkg" "$target" || {
        # Go's fuzz coordinator sometimes ends a short run with "context
        # deadline exceeded" while its workers start on a busy machine,
        # without any failing input: run such a target once more.
        if grep -q 'context deadline exceeded' "$fuzzlog" && ! grep -q 'Failing input written' "$fuzzlog"; then
          echo "--- $pkg $target again: the coordinator timed out without a failing input"
          fuzz_once "$pkg" "$target"
        else
          exit 1
        fi
      }
    done
  done
fi

step "all checks passed"
