#!/usr/bin/env bash
# Installs ghz (the load generator the lab's proxy scenario cross-checks
# its own figures with, as a process of its own) from the Go module proxy
# into the cache, keyed by version, and prints its path.
exec "$(dirname "$0")/go-install.sh" ghz v0.121.0 github.com/bojand/ghz/cmd/ghz
