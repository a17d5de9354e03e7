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
dest="${1:-$repo/bin/gatekeeper}"
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

version="$(cd "$here" && "$GO" list -m -f '{{.Version}}' github.com/open-policy-agent/gatekeeper/v3)"
if [[ -x "$dest" && "$dest" -nt "$here/go.mod" && "$dest" -nt "$here/go.sum" ]]; then
	echo "gatekeeper $version: up to date at $dest"
	exit 0
fi

echo "building gatekeeper $version (first time only, several minutes)..."
start=$SECONDS
tmp="$dest.tmp.$$"
if ! (cd "$here" && "$GO" build -trimpath -ldflags "-s -w" -o "$tmp" github.com/open-policy-agent/gatekeeper/v3); then
	rm -f "$tmp"
	echo "build of gatekeeper $version failed" >&2
	exit 1
fi
mv -f "$tmp" "$dest"
echo "built gatekeeper $version in $((SECONDS - start))s -> $dest"
