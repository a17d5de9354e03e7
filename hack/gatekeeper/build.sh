#!/usr/bin/env bash
# Builds `gatekeeper` — the Open Policy Agent Gatekeeper release pinned in
# this tool module (hack/gatekeeper/go.mod) — from the Go module proxy, for
# the API-server benchmark (hack/bench, part 4) that registers Gatekeeper's
# validating webhook in place of canarygate's. Nothing is downloaded but Go
# modules; the CRDs the benchmark installs are read from the same module in
# the module cache, so binary and CRDs always match.
#
#   bash hack/gatekeeper/build.sh [DEST]      (DEST defaults to <repo>/bin/gatekeeper)
#
# The binary is built only when it is missing or older than this module's
# go.mod/go.sum, so the first run takes several minutes and later runs
# return at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/gotool.sh
source "$repo/hack/lib/gotool.sh"
gotool_build "$here" gatekeeper github.com/open-policy-agent/gatekeeper/v3 github.com/open-policy-agent/gatekeeper/v3 "several minutes" "${1:-$repo/bin/gatekeeper}"
