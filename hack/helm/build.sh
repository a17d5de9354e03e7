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
GO="${GO:-go}"

# The stamps helm's own Makefile sets: the release `helm version` reports,
# and the Kubernetes version `helm template` and `helm lint` assume without a
# cluster (.Capabilities.KubeVersion and the deprecated-API check), derived
# from client-go v0.X.Y as Kubernetes 1.X. Without them helm assumes v1.20.
gotool_ldflags() { # helm-version
	local client_go k8s_minor flags pkg
	client_go="$(cd "$here" && GOWORK=off "$GO" list -m -f '{{.Version}}' k8s.io/client-go)" # e.g. v0.37.0
	k8s_minor="${client_go#v0.}"
	k8s_minor="${k8s_minor%%.*}"
	flags="-X helm.sh/helm/v3/internal/version.version=$1"
	flags+=" -X helm.sh/helm/v3/internal/version.metadata="
	flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
		flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
	done
	echo "$flags"
}

# shellcheck source=../lib/gotool.sh
source "$repo/hack/lib/gotool.sh"
gotool_build "$here" helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "about a minute" "${1:-$repo/bin/helm}"
