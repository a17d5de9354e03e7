#!/usr/bin/env bash
# Builds `opa` — the same Open Policy Agent release canarygate embeds — from
# the Go module proxy at the version pinned in this tool module
# (hack/opa/go.mod), for the side-by-side benchmarks (hack/bench) that run the
# classic `opa run --server` admission controller next to canarygate.
# Nothing is downloaded but Go modules.
#
#   bash hack/opa/build.sh [DEST]      (DEST defaults to <repo>/bin/opa)
#
# The binary is built only when it is missing or older than this module's
# go.mod/go.sum, so the first run takes a minute or two and later runs return
# at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/gotool.sh
source "$repo/hack/lib/gotool.sh"
gotool_build "$here" opa github.com/open-policy-agent/opa github.com/open-policy-agent/opa "a minute or two" "${1:-$repo/bin/opa}"
