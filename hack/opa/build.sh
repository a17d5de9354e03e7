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
dest="${1:-$repo/bin/opa}"
mkdir -p "$(dirname "$dest")"
dest="$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")"

# The tool module stands alone: no workspace, a static binary, no C toolchain.
export GOWORK=off
export CGO_ENABLED=0
GO="${GO:-go}"

# Serialise concurrent runs so the binary is built once; it lands via rename,
# never half-written.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dest.build.lock"
	flock 9
fi

version="$(cd "$here" && "$GO" list -m -f '{{.Version}}' github.com/open-policy-agent/opa)"
if [[ -x "$dest" && "$dest" -nt "$here/go.mod" && "$dest" -nt "$here/go.sum" ]]; then
	echo "opa $version: up to date at $dest"
	exit 0
fi

echo "building opa $version (first time only, a minute or two)..."
start=$SECONDS
tmp="$dest.tmp.$$"
if ! (cd "$here" && "$GO" build -trimpath -ldflags "-s -w" -o "$tmp" github.com/open-policy-agent/opa); then
	rm -f "$tmp"
	echo "build of opa $version failed" >&2
	exit 1
fi
mv -f "$tmp" "$dest"
echo "built opa $version in $((SECONDS - start))s -> $dest"
