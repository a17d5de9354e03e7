#!/usr/bin/env bash
# Builds the real control plane that the e2e suite runs — kube-apiserver,
# kube-controller-manager and kubectl from k8s.io/kubernetes, and etcd — from
# the Go module proxy at the versions pinned in the tool modules
# hack/controlplane/go.mod and hack/etcd/go.mod. Nothing is downloaded but Go
# modules.
#
#   bash hack/controlplane/build.sh [DEST]      (DEST defaults to <repo>/bin/controlplane)
#
# A binary is built only when it is missing or older than its tool module's
# go.mod/go.sum, so the first run takes several minutes (kube-apiserver alone
# ~4-5 min on 2 cores) and later runs return at once. DEST is laid out the way
# controller-runtime's envtest expects: KUBEBUILDER_ASSETS=DEST.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cp_mod="$here"
etcd_mod="$(cd "$here/../etcd" && pwd)"

dest="${1:-$repo/bin/controlplane}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

# The tool modules stand alone: no workspace, static binaries, no C toolchain.
export GOWORK=off
export CGO_ENABLED=0
GO="${GO:-go}"

# Serialise concurrent runs (e.g. several test packages calling this at once)
# so each binary is built once; builds also land via rename, never half-written.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dest/.build.lock"
	flock 9
fi

mod_version() { # module-dir module-path
	(cd "$1" && "$GO" list -m -f '{{.Version}}' "$2")
}

# up_to_date BINARY MODULE-DIR: the binary exists and is newer than go.mod and go.sum.
up_to_date() {
	[[ -x "$1" && "$1" -nt "$2/go.mod" && "$1" -nt "$2/go.sum" ]]
}

# build NAME MODULE-DIR PACKAGE VERSION NOTE LDFLAGS
build() {
	local name="$1" mod="$2" pkg="$3" version="$4" note="$5" ldflags="$6"
	local out="$dest/$name"
	if up_to_date "$out" "$mod"; then
		echo "$name $version: up to date in $dest"
		return 0
	fi
	echo "building $name $version ($note)..."
	local start=$SECONDS tmp="$out.tmp.$$"
	if ! (cd "$mod" && "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg"); then
		rm -f "$tmp"
		echo "build of $name $version failed" >&2
		return 1
	fi
	mv -f "$tmp" "$out"
	echo "built $name $version in $((SECONDS - start))s -> $out"
}

k8s_version="$(mod_version "$cp_mod" k8s.io/kubernetes)"  # e.g. v1.37.2
etcd_version="$(mod_version "$etcd_mod" go.etcd.io/etcd/server/v3)"

# The version stamps Kubernetes' own build sets (hack/lib/version.sh), so that
# `kubectl version` and the apiserver's /version report the real release
# rather than v0.0.0-master. buildDate is the release's time on the module
# proxy, so the same go.mod always gives the same binaries.
k8s_build_date="$(cd "$cp_mod" && "$GO" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
k8s_build_date="${k8s_build_date:-1970-01-01T00:00:00Z}"
semver="${k8s_version#v}"
k8s_major="${semver%%.*}"
k8s_minor="${semver#*.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	k8s_ldflags+=" -X '$pkg.gitVersion=$k8s_version'"
	k8s_ldflags+=" -X '$pkg.gitMajor=$k8s_major'"
	k8s_ldflags+=" -X '$pkg.gitMinor=$k8s_minor'"
	k8s_ldflags+=" -X '$pkg.gitCommit='"
	k8s_ldflags+=" -X '$pkg.gitTreeState=clean'"
	k8s_ldflags+=" -X '$pkg.buildDate=$k8s_build_date'"
done

echo "control plane binaries -> $dest"
total_start=$SECONDS
build etcd "$etcd_mod" go.etcd.io/etcd/server/v3 "$etcd_version" \
	"first time only, about a minute" ""
build kube-apiserver "$cp_mod" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_version" \
	"first time only, takes several minutes" "$k8s_ldflags"
build kube-controller-manager "$cp_mod" k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_version" \
	"first time only, a few minutes" "$k8s_ldflags"
build kubectl "$cp_mod" k8s.io/kubernetes/cmd/kubectl "$k8s_version" \
	"first time only, about a minute" "$k8s_ldflags"
echo "control plane ready in $((SECONDS - total_start))s: KUBEBUILDER_ASSETS=$dest"
