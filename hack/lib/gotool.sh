# Sourced by the build.sh of a tool module (hack/opa, hack/gatekeeper,
# hack/helm): builds one command of the module into DEST from the Go module
# proxy, at the version the module's go.mod pins. Nothing is downloaded but
# Go modules.
#
#   gotool_build HERE NAME MODULE PACKAGE HINT DEST
#
# HERE is the tool module's folder, MODULE the module whose version is
# reported, PACKAGE the command built, HINT how long the first build takes.
# A function gotool_ldflags, when the caller defines one, receives the
# version and prints extra -ldflags. The binary is built only when DEST is
# missing or older than the module's go.mod/go.sum; concurrent runs are
# serialised, and the binary lands via rename, never half-written.

gotool_build() {
	local here=$1 name=$2 module=$3 pkg=$4 hint=$5 dest=$6
	mkdir -p "$(dirname "$dest")"
	dest="$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")"

	# The tool module stands alone: no workspace, a static binary, no C
	# toolchain.
	export GOWORK=off
	export CGO_ENABLED=0
	local go="${GO:-go}"

	if command -v flock >/dev/null 2>&1; then
		exec 9>"$dest.build.lock"
		flock 9
	fi

	local version
	version="$(cd "$here" && "$go" list -m -f '{{.Version}}' "$module")"
	if [[ -x "$dest" && "$dest" -nt "$here/go.mod" && "$dest" -nt "$here/go.sum" ]]; then
		echo "$name $version: up to date at $dest"
		return 0
	fi

	local ldflags="-s -w"
	if declare -F gotool_ldflags >/dev/null; then
		ldflags+=" $(gotool_ldflags "$version")"
	fi
	echo "building $name $version (first time only, $hint)..."
	local start=$SECONDS tmp="$dest.tmp.$$"
	if ! (cd "$here" && "$go" build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg"); then
		rm -f "$tmp"
		echo "build of $name $version failed" >&2
		return 1
	fi
	mv -f "$tmp" "$dest"
	echo "built $name $version in $((SECONDS - start))s -> $dest"
}
