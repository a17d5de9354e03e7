#!/usr/bin/env bash
# Builds the helm CLI (helm.sh/helm/v3, the version pinned in
# hack/helm/go.mod) from the Go module proxy. The chart tests (test/chart)
# run `helm lint` and `helm template` with it, and the e2e suite renders the
# chart with it. Nothing is downloaded but Go modules.
#
#   bash hack/helm/build.sh [DEST]      (DEST defaults to <repo>/bin/helm)
#
# helm is built only when DEST is missing or older than hack/helm/go.mod or
# go.sum, so the first run takes about a minute and later runs return at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

out="${1:-$repo/bin/helm}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

# The tool module stands alone: no workspace, a static binary, no C toolchain.
export GOWORK=off
export CGO_ENABLED=0
GO="${GO:-go}"

# Serialise concurrent runs (e.g. several test packages calling this at once)
# so helm is built once; the build also lands via rename, never half-written.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$out.build.lock"
	flock 9
fi

if [[ -x "$out" && "$out" -nt "$here/go.mod" && "$out" -nt "$here/go.sum" ]]; then
	echo "helm: up to date at $out"
	exit 0
fi

mod_version() { # module-path
	(cd "$here" && "$GO" list -m -f '{{.Version}}' "$1")
}

helm_version="$(mod_version helm.sh/helm/v3)"    # e.g. v3.22.0
client_go="$(mod_version k8s.io/client-go)"      # e.g. v0.37.0

# The stamps helm's own Makefile sets: the release `helm version` reports,
# and the Kubernetes version `helm template` and `helm lint` assume without a
# cluster (.Capabilities.KubeVersion and the deprecated-API check), derived
# from client-go v0.X.Y as Kubernetes 1.X. Without them helm assumes v1.20.
k8s_minor="${client_go#v0.}"
k8s_minor="${k8s_minor%%.*}"
ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

echo "building helm $helm_version (Kubernetes 1.$k8s_minor; first time only, about a minute)..."
start=$SECONDS
tmp="$out.tmp.$$"
if ! (cd "$here" && "$GO" build -trimpath -ldflags "$ldflags" -o "$tmp" helm.sh/helm/v3/cmd/helm); then
	rm -f "$tmp"
	echo "build of helm $helm_version failed" >&2
	exit 1
fi
mv -f "$tmp" "$out"
echo "built helm $helm_version in $((SECONDS - start))s -> $out"
