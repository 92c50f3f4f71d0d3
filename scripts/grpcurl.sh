#!/usr/bin/env bash
# Installs grpcurl (used by the proxy's tests: server reflection through
# the proxy) from the Go module proxy into the cache, keyed by version, and
# prints its path.
exec "$(dirname "$0")/go-install.sh" grpcurl v1.9.4 github.com/fullstorydev/grpcurl/cmd/grpcurl
