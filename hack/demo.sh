#!/usr/bin/env bash
# Replays canarygate's reference release (test/fixtures/scenario) through
# `canarygate check`, narrating each step. Usage: hack/demo.sh BIN
set -uo pipefail
bin=${1:-bin/canarygate}
fx=test/fixtures/scenario
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ canarygate check %s\n' "$*"
	"$bin" check "$@"
	echo "(exit status $?)"
}

say "Step 0: the cluster holds model-v1 (stable) and model-v2 (canary), both Ready"
state=(--state "$fx/00-isvc-model-v1.yaml" --state "$fx/00-isvc-model-v2.yaml")

say "Step 1: a Service per version (a first deployment is always allowed)"
run -f "$fx/01-services.yaml" "${state[@]}"
state+=(--state "$fx/01-services.yaml")

say "Step 2: the main Ingress model.example.com/ -> model-svc"
run -f "$fx/02-ingress.yaml" "${state[@]}"
state+=(--state "$fx/02-ingress.yaml")

say "Step 3a: a canary Ingress routing requests with 'foo: bar' to model-v2 (canarygate stamps canary-since)"
run -f "$fx/03a-canary-header.yaml" "${state[@]}"

say "Step 3b: the same canary re-applied with 20 % of traffic by weight"
run -f "$fx/03b-canary-weight.yaml" "${state[@]}" --state "$fx/03a-canary-header.yaml"
state+=(--state "$fx/03b-canary-weight.yaml")

say "A mistake ingress-nginx would swallow silently: canary 'yes' and weight '50%'"
sed -e 's/canary: "true"/canary: "yes"/' -e 's/canary-weight: "20"/canary-weight: "50%"/' \
	"$fx/03b-canary-weight.yaml" >"$tmp/typo.yaml"
run -f "$tmp/typo.yaml" "${state[@]}"

say "Step 4: switching model-svc to model-v2 before anyone verified it — denied"
run -f "$fx/04-switch.yaml" "${state[@]}"

say "Step 4 again, with model-v2 marked verified in the same change set (canarygate stamps who and when)"
run -f "$fx/04-verify-model-v2.yaml" -f "$fx/04-switch.yaml" "${state[@]}"

say "Step 5, wrong order: deleting model-v2-svc while the canary still routes to it — denied"
mkdir -p "$tmp/cleanup"
cp "$fx"/00-isvc-model-v1.yaml "$fx"/00-isvc-model-v2.yaml "$fx"/02-ingress.yaml "$fx"/03b-canary-weight.yaml "$tmp/cleanup/"
awk '/^---/{exit} {print}' "$fx/01-services.yaml" >"$tmp/cleanup/01-model-svc.yaml"
run -f "$tmp/cleanup" "${state[@]}" --prune

say "Step 5, right order: delete the canary Ingress first"
mkdir -p "$tmp/cleanup2"
cp "$fx"/00-isvc-model-v1.yaml "$fx"/00-isvc-model-v2.yaml "$fx"/01-services.yaml "$fx"/02-ingress.yaml "$tmp/cleanup2/"
run -f "$tmp/cleanup2" "${state[@]}" --prune
