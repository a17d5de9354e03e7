//go:build tools

// Package tools pins the `opa` binary the benchmarks compare canarygate
// with (hack/bench): the same OPA release canarygate embeds, run as the
// classic `opa run --server` admission controller. Built by build.sh into
// bin/opa; nothing is downloaded but Go modules.
package tools

import (
	_ "github.com/open-policy-agent/opa"
)
